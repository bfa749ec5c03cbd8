"""`python -m benchmarks communes`: one deployment serving 100 communes.

1. engines (in this process): memory of the engines for 1 and for N communes (tracemalloc: every
   allocation, numpy's included), the reload after an edit of the shared catalog (province engine,
   then every commune's layer over it), and match latency (a whole turn) on the province's engine
   against the N communes' engines;
2. end to end: --rate messages a second spread over the N OAs (each its own address, secret and
   client), on PostgreSQL with the web process acknowledging and worker processes answering and
   sending through the database claim loop (as `benchmarks webhook`'s pg-workers): p95 from the
   intended send time to the reply reaching the fake Zalo, how many were not answered within --settle
   seconds, and how many never were (lost) once the backlog drained.
Layers: every commune has its own facts and a fee override; every 20th adds an entry, and every 20th
(another) disables one (those see the shared index through bot.layer_matcher).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks.load import TEXTS, percentiles, user_id
from benchmarks.webhook import DEFAULT_PG, _load, _pg_reachable, _replies
from tests.commune_layers import layer_text, write_layer
from tests.live import ROOT, Processes, backlog, free_port, live_catalog, pg_schema, service_env, wait_healthy
from tests.test_overlay import EXTRA
from webhooks.cli import READY

MEMORY_RATIO_TARGET, E2E_P95_TARGET_MS = 4.0, 200.0


def slug(n: int) -> str:
    """The n-th commune's slug."""
    return f"xa-{n:03d}"


def write_layers(folder: Path, count: int) -> None:
    """Layers of `count` communes (see the module's docstring)."""
    for n in range(count):
        extra = EXTRA.replace("cho-phien-dong", f"cho-phien-{n}") if n % 20 == 10 else ""
        disabled = ("ket-hon",) if n % 20 == 15 else ()
        write_layer(folder, slug(n), layer_text(f"Xã Thử {n}", n, fee=f"Lệ phí xã {n}", extra=extra,
                                                disabled=disabled))


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def _turn_ms(province: Any, engines: list[Any], queries: list[str], repeat: int) -> tuple[list[float], list[float]]:
    """Turn times on the province's engine and on the communes' (round robin), interleaved query by query
    so that other load on the machine weighs on both alike."""
    from bot.state import MemoryStateStore

    alone, spread = [], []
    for r in range(repeat):
        for k, text in enumerate(queries):
            for engine, out in ((province, alone), (engines[(k + r) % len(engines)], spread)):
                started = time.perf_counter()
                engine.respond("bench", text, MemoryStateStore())
                out.append((time.perf_counter() - started) * 1000)
    return alone, spread


def bench_engines(tmp: Path, count: int, repeat: int) -> dict[str, Any]:
    """Memory for 1 and `count` communes, reload after a shared edit, turn latency."""
    from bot.communes import CommuneEngines
    from bot.dialogue import EngineHolder
    from bot.evaluate import load_cases
    from bot.settings import Settings

    shutil.copy(live_catalog(), tmp / "procedures.yaml")
    settings = Settings.from_env({}, catalog_path=tmp / "procedures.yaml")
    write_layers(tmp / "communes", count)
    tracemalloc.start()
    start = _traced()
    base = EngineHolder(settings, check_every=0)
    province = _traced() - start
    layered = CommuneEngines(base, tmp / "communes", check_every=0)
    layered.for_commune(slug(0))
    one = _traced() - start
    for n in range(1, count):
        layered.for_commune(slug(n))
    many = _traced() - start
    tracemalloc.stop()
    viewed = sum(e.matcher is not base.get().matcher for e in layered.loaded().values())
    catalog = tmp / "procedures.yaml"
    catalog.write_text(catalog.read_text(encoding="utf-8").replace("Xã Minh An", "Xã Minh An Mới", 1), encoding="utf-8")
    stat = catalog.stat()
    os.utime(catalog, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    started = time.perf_counter()
    base.get(fresh=True)
    base_s = time.perf_counter() - started
    for n in range(count):
        layered.for_commune(slug(n))
    layers_s = time.perf_counter() - started - base_s
    queries = [c.text for c in load_cases(ROOT / "tests" / "data" / "eval.yaml")][:200]
    engines = [layered.for_commune(slug(n)) for n in range(count)]
    _turn_ms(base.get(), engines, queries[:20], 1)  # warm caches on both sides alike
    alone, spread = (percentiles(ms) for ms in _turn_ms(base.get(), engines, queries, repeat))
    return {"communes": count, "layered_matchers": viewed, "memory_mb": {
        "province_engine": round(province / 2**20, 1), "1_commune": round(one / 2**20, 1),
        f"{count}_communes": round(many / 2**20, 1), "per_commune_layer_kb": round((many - one) / max(1, count - 1) / 1024, 1)},
        "memory_ratio": round(many / one, 2), "reload_s": {"province_engine": round(base_s, 2),
                                                          f"{count}_layers": round(layers_s, 2)},
        "turn_ms": {"province_engine": alone, f"{count}_communes": spread}, "queries": len(queries) * repeat,
        "expected": {(n, t): len(engines[n].respond("b", t, _store()).replies) for n in range(count) for t in TEXTS}}


def _store() -> Any:
    from bot.state import MemoryStateStore

    return MemoryStateStore()


def _seed(url: str, fake: Any, count: int) -> list[dict[str, str]]:
    from webhooks.communes.registry import add_commune
    from webhooks.storage import migrate
    from webhooks.storage.engine import Database

    database = Database(url)
    migrate.upgrade(database)
    targets = []
    for n in range(count):
        app_id, secret = f"bench-app-{n}", f"bench-key-{n}"
        add_commune(database, slug=slug(n), name=f"Xã Thử {n}", oa_id=f"bench-oa-{n}", app_id=app_id,
                    app_secret=fake.app_secret, oa_secret_key=secret, access_token=fake.access_token,
                    refresh_token=fake.refresh_token)
        targets.append({"path": f"/webhooks/zalo/{slug(n)}", "app_id": app_id, "secret": secret})
    database.dispose()
    return targets


def bench_end_to_end(args: argparse.Namespace, tmp: Path, expected: dict[Any, int]) -> dict[str, Any]:
    """--rate messages a second over the communes' OAs, PostgreSQL, web acknowledging, workers answering."""
    from tests.fake_zalo import FakeZalo

    run = int(time.time()) % 10_000
    with ExitStack() as stack:
        fake = stack.enter_context(FakeZalo())
        url = stack.enter_context(pg_schema(args.pg_url))
        targets = _seed(url, fake, args.communes)
        procs = Processes(tmp)
        stack.callback(procs.stop_all)
        port = free_port()
        env = service_env(fake, port, url, BOT_ANSWER_THREADS="0", BOT_COMMUNES_DIR=str(tmp / "communes"))
        server = procs.start("serve", ["-m", "bot", "serve", "--host", "127.0.0.1"], env)
        workers = [procs.start(f"worker-{n}", ["-m", "bot", "worker"], env) for n in range(args.workers)]
        base = f"http://127.0.0.1:{port}"
        if not wait_healthy(base, server):
            raise RuntimeError(f"the server did not start:\n{procs.output(server)[-2000:]}")
        deadline = time.monotonic() + 60
        while not all(READY in procs.output(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        spec = {"mode": "open", "url": base + "/webhooks/zalo", "rate": args.rate, "run": run,
                "seconds": args.duration + args.warmup, "targets": targets, "app_id": "", "secret": ""}
        before = {"web": procs.cpu_seconds([server]), "workers": procs.cpu_seconds(workers)}
        result = _load(spec, args.duration + args.warmup + 120)
        messages = result.pop("messages")
        first = int(user_id(run, 2, 0))
        want = {m[0]: expected[((int(m[0]) - first) % args.communes, m[1])] for m in messages if m[5] == 200}
        settle = time.monotonic() + args.settle
        while time.monotonic() < settle and not all(len(t) >= want[u] for u, t in _replies(fake, want).items()):
            time.sleep(0.1)
        got = _replies(fake, want)
        late = sum(1 for user, n in want.items() if len(got.get(user, ())) < n)
        if late:  # behind, not lost: wait for the backlog, then count what never came
            waited = time.monotonic()
            while backlog(base) != 0 and time.monotonic() - waited < args.drain:
                time.sleep(0.5)
            result["backlog_drained_s"] = round(time.monotonic() - waited, 1) if backlog(base) == 0 else None
        final = _replies(fake, want)
        start = messages[0][2] + args.warmup if messages else 0.0
        e2e = [(min(got[m[0]]) - m[2]) * 1000 for m in messages if got.get(m[0]) and m[2] >= start]
        used = {"web": procs.cpu_seconds([server]), "workers": procs.cpu_seconds(workers)}
        result["cpu_ms_per_message"] = {side: round((used[side] - before[side]) * 1000 / max(1, len(messages)), 2)
                                        for side in used}
    result.update(measured=len(e2e), e2e_ms=percentiles(e2e), workers=args.workers,
                  late=late, lost=sum(1 for user, n in want.items() if len(final.get(user, ())) < n) + result["non_200"],
                  duplicated=sum(max(0, len(final.get(user, ())) - n) for user, n in want.items()))
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Both parts; the whole report."""
    load = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="bench-communes-") as folder:
        tmp = Path(folder)
        engines = bench_engines(tmp, args.communes, args.repeat)
        expected = engines.pop("expected")
        problem = _pg_reachable(args.pg_url) if args.duration > 0 else "--duration 0"
        e2e = None if problem else bench_end_to_end(args, tmp, expected)
    turn = engines["turn_ms"]
    targets = {f"memory_{args.communes}<{MEMORY_RATIO_TARGET:g}x_1": engines["memory_ratio"] < MEMORY_RATIO_TARGET}
    if e2e is not None:
        targets[f"e2e_p95<{E2E_P95_TARGET_MS:g}ms"] = (e2e["e2e_ms"]["p95"] or 1e9) < E2E_P95_TARGET_MS
        targets["none_lost"] = e2e["lost"] == 0
    return {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "load_average_before": load,
            "engines": engines, "turn_p99_ms": {k: v["p99"] for k, v in turn.items()}, "end_to_end": e2e,
            "skipped": problem, "targets": targets, "passed": all(targets.values())}


def format_report(r: dict[str, Any]) -> str:
    """The human-readable summary."""
    e, m = r["engines"], r["engines"]["memory_mb"]
    n = e["communes"]
    lines = [f"communes benchmark, {r['date']}, {r['cpus']} CPUs (load average before: {r['load_average_before']})",
             f"  engine memory: province engine {m['province_engine']} MB; 1 commune {m['1_commune']} MB; "
             f"{n} communes {m[f'{n}_communes']} MB (×{e['memory_ratio']}; {m['per_commune_layer_kb']} KB a layer; "
             f"{e['layered_matchers']} layers adding or disabling entries, seen through the shared index)",
             f"  reload after a shared edit: province engine {e['reload_s']['province_engine']} s, then {n} layers "
             f"{e['reload_s'][f'{n}_layers']} s",
             "  turn latency p50/p95/p99 (ms): " + "; ".join(
                 f"{k} {v['p50']}/{v['p95']}/{v['p99']}" for k, v in e["turn_ms"].items()) + f" ({e['queries']} turns each)"]
    x = r["end_to_end"]
    if x is None:
        lines.append(f"  end to end: skipped ({r['skipped']})")
    else:
        s = x["e2e_ms"]
        lines.append(f"  end to end, {x['rate']:g} msg/s over {n} OAs, PostgreSQL, {x['workers']} workers: p50/p95/p99 "
                     f"{s['p50']}/{s['p95']}/{s['p99']} ms over {x['measured']} messages; sent {x['sent']}, not answered within "
                     f"--settle {x['late']} (backlog drained in {x.get('backlog_drained_s', 0)} s), lost "
                     f"{x['lost']}, duplicated {x['duplicated']}; CPU per message: web {x['cpu_ms_per_message']['web']} ms, "
                     f"workers {x['cpu_ms_per_message']['workers']} ms")
    lines.append("  targets: " + "  ".join(f"{k} {'PASS' if ok else 'FAIL'}" for k, ok in r["targets"].items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 when a target is missed."""
    p = argparse.ArgumentParser(prog="python -m benchmarks communes")
    p.add_argument("--json", action="store_true")
    p.add_argument("--communes", type=int, default=100)
    p.add_argument("--repeat", type=int, default=3, help="passes over the latency queries (default 3)")
    p.add_argument("--pg-url", default=os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG)
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--duration", type=float, default=60.0, help="measured seconds (0: engines only)")
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--settle", type=float, default=30.0)
    p.add_argument("--drain", type=float, default=300.0, help="max seconds to wait for a backlog to be answered")
    p.add_argument("--workers", type=int, default=2, help="`python -m bot worker` processes (default 2)")
    args = p.parse_args(argv)
    report = run(args)
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else format_report(report))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
