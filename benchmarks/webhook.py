"""`python -m benchmarks webhook`: the real server under a 16-client burst and at 100 messages a second.

Per backend (sqlite: the embedded default, answering in the web processes; pg: the same on PostgreSQL;
pg-workers: PostgreSQL, the web processes only acknowledging, two `python -m bot worker` processes
answering and sending):
1. sustained: one message per new citizen at --rate for --duration seconds (after a warm-up), each
   matched with its replies at the fake Zalo: end-to-end p95, CPU per message, lost and duplicated;
2. burst: --clients keep-alive clients posting back to back: acknowledgement p50/p99 and requests/s,
   next to the same load on a bare endpoint (a route that only reads the body) under the same server.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks.load import percentiles
from tests.live import OA_SECRET, ROOT, Processes, backlog, free_port, pg_schema, service_env, wait_healthy
from webhooks.cli import READY

ACK_P99_TARGET_MS, E2E_P95_TARGET_MS = 250.0, 200.0
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _load(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run the load generator in its own process (the server must not share our interpreter lock or CPU accounting)."""
    done = subprocess.run([sys.executable, "-m", "benchmarks.load"], input=json.dumps(spec), cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def _expected_replies(texts: set[str]) -> dict[str, int]:
    """How many replies a first-time citizen gets for each text (the engine is deterministic)."""
    from bot.dialogue import Engine
    from bot.settings import Settings
    from bot.state import MemoryStateStore

    engine = Engine.from_settings(Settings.from_env({}))
    return {text: len(engine.respond("bench", text, MemoryStateStore()).replies) for text in texts}


def _sustained(args: argparse.Namespace, fake: Any, base: str, run: int, cpu: Any) -> dict[str, Any]:
    spec = {"mode": "open", "url": base + "/webhooks/zalo", "rate": args.rate, "run": run, "app_id": fake.app_id,
            "seconds": args.duration + args.warmup, "secret": OA_SECRET}
    before = cpu()
    result = _load(spec, args.duration + args.warmup + 120)
    messages = result.pop("messages")  # [user, text, intended send time, ack ms, send lag ms, status]
    expected = _expected_replies({m[1] for m in messages})
    want = {m[0]: expected[m[1]] for m in messages if m[5] == 200}
    deadline = time.monotonic() + args.settle
    while time.monotonic() < deadline and not all(len(t) >= want[u] for u, t in _replies(fake, want).items()):
        time.sleep(0.1)
    got = _replies(fake, want)
    start = messages[0][2] + args.warmup if messages else 0.0
    e2e = [(min(got[m[0]]) - m[2]) * 1000 for m in messages if got.get(m[0]) and m[2] >= start]
    used = cpu()
    result["cpu_ms_per_message"] = {side: round((used[side] - before[side]) * 1000 / max(1, len(messages)), 2)
                                    for side in used}
    result.update(measured=len(e2e), e2e_ms=percentiles(e2e),
                  lost=sum(1 for user, n in want.items() if len(got.get(user, ())) < n) + result["non_200"],
                  duplicated=sum(max(0, len(got.get(user, ())) - n) for user, n in want.items()))
    return result


def _replies(fake: Any, users: dict[str, int]) -> dict[str, list[float]]:
    """Arrival times of accepted sends, per citizen of interest."""
    found: dict[str, list[float]] = {user: [] for user in users}
    for record in fake.delivered():
        if record.user_id in found:
            found[record.user_id].append(record.time)
    return found


def _burst(args: argparse.Namespace, fake: Any, base: str, run: int) -> dict[str, Any]:
    spec = {"mode": "closed", "url": base + "/webhooks/zalo", "clients": args.clients, "seconds": args.seconds,
            "warmup": 1.0, "users": 300, "run": run, "app_id": fake.app_id, "secret": OA_SECRET}
    return _load(spec, args.seconds + 120)


def run_backend(name: str, args: argparse.Namespace, fake: Any, tmp: Path) -> dict[str, Any]:
    """Start the bare server, the service (and workers), measure, stop everything."""
    run = int(time.time()) % 10_000  # citizen ids unique to this run
    with ExitStack() as stack:
        if name == "sqlite":
            url, extra, queue_workers = f"sqlite:///{tmp / 'bench.db'}", {}, 0
        elif name == "pg":
            url, extra, queue_workers = stack.enter_context(pg_schema(args.pg_url)), {}, 0
        else:
            url, extra, queue_workers = stack.enter_context(pg_schema(args.pg_url)), {"BOT_ANSWER_THREADS": "0"}, 2
        procs = Processes(tmp)
        stack.callback(procs.stop_all)
        bare_port, port = free_port(), free_port()
        bare = procs.start(f"{name}-bare", ["-m", "benchmarks.bare", "--port", str(bare_port)])
        env = service_env(fake, port, url, **extra, **dict(item.split("=", 1) for item in args.server_env))
        server = procs.start(f"{name}-serve", ["-m", "bot", "serve", "--host", "127.0.0.1"], env)
        workers = [procs.start(f"{name}-worker-{n}", ["-m", "bot", "worker"], env) for n in range(queue_workers)]
        base, bare_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"
        if not (wait_healthy(base, server) and wait_healthy(bare_base, bare)):
            raise RuntimeError(f"a server did not start:\n{procs.output(server)[-2000:]}")
        deadline = time.monotonic() + 60
        while not all(READY in procs.output(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)

        def cpu() -> dict[str, float]:
            return {"web": procs.cpu_seconds([server]), "workers": procs.cpu_seconds(workers)}

        sustained = _sustained(args, fake, base, run, cpu)
        burst = {"bare": _burst(args, fake, bare_base, run), "webhook": _burst(args, fake, base, run)}
        waited = time.monotonic()
        while backlog(base) != 0 and time.monotonic() - waited < 120:
            time.sleep(0.25)
        burst["backlog_answered_s"] = round(time.monotonic() - waited, 1) if backlog(base) == 0 else None
    ratio = burst["webhook"]["rps"] / burst["bare"]["rps"] if burst["bare"]["rps"] else None
    targets = {f"ack_p99<{ACK_P99_TARGET_MS:g}ms": (burst["webhook"]["ack_ms"]["p99"] or 1e9) < ACK_P99_TARGET_MS,
               f"e2e_p95<{E2E_P95_TARGET_MS:g}ms": (sustained["e2e_ms"]["p95"] or 1e9) < E2E_P95_TARGET_MS,
               "none_lost": sustained["lost"] == 0 and burst["webhook"]["non_200"] == 0
               and burst["backlog_answered_s"] is not None}
    labels = {"sqlite": "sqlite, answering in the web processes", "pg": "postgresql, answering in the web processes",
              "pg-workers": "postgresql, web acknowledging, 2 worker processes answering"}
    return {"backend": labels[name],
            "sustained": sustained, "burst": burst, "throughput_ratio": round(ratio, 3) if ratio else None,
            "targets": targets, "passed": all(targets.values())}


def _pg_reachable(url: str) -> str | None:
    from sqlalchemy import create_engine, text

    from tests.live import psycopg_url

    try:
        engine = create_engine(psycopg_url(url), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure means "not here": the SQLite figures still come
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    return None


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every requested backend against one fake Zalo; the whole report."""
    from tests.fake_zalo import FakeZalo

    skipped: dict[str, str] = {}
    backends = [b for b in args.backends.split(",") if b]
    if unknown := set(backends) - {"sqlite", "pg", "pg-workers"}:
        raise SystemExit(f"unknown backend(s): {', '.join(sorted(unknown))}")
    if any(b.startswith("pg") for b in backends) and (problem := _pg_reachable(args.pg_url)):
        skipped.update((b, problem) for b in backends if b.startswith("pg"))
        backends = [b for b in backends if not b.startswith("pg")]
    load = round(os.getloadavg()[0], 2)  # other work on the machine skews every figure
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp, FakeZalo() as fake:
        for name in backends:
            (Path(tmp) / name).mkdir()
            results.append(run_backend(name, args, fake, Path(tmp) / name))
    return {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "load_average_before": load,
            "rate": args.rate, "duration": args.duration, "clients": args.clients, "burst_seconds": args.seconds,
            "backends": results, "skipped": skipped, "passed": all(r["passed"] for r in results)}


def _ms(values: dict[str, Any], *keys: str) -> str:
    return " / ".join("-" if values.get(k) is None else f"{values[k]:.1f}" for k in keys)


def format_report(report: dict[str, Any]) -> str:
    """The human-readable table."""
    lines = [f"webhook benchmark, {report['date']}, {report['cpus']} CPUs (load average before: "
             f"{report['load_average_before']}): {report['rate']:g} msg/s × {report['duration']:g} s, one new citizen "
             f"each; then {report['clients']} keep-alive clients × {report['burst_seconds']:g} s"]
    for r in report["backends"]:
        s, b = r["sustained"], r["burst"]
        lines += [
            "", f"[{r['backend']}]",
            f"  sustained: end-to-end p50/p95/p99 {_ms(s['e2e_ms'], 'p50', 'p95', 'p99')} ms, ack p99 "
            f"{_ms(s['ack_ms'], 'p99')} ms; CPU per message: web {s['cpu_ms_per_message']['web']} ms, workers "
            f"{s['cpu_ms_per_message']['workers']} ms",
            f"  sent {s['sent']}  lost {s['lost']}  duplicated {s['duplicated']}",
            f"  burst: webhook {b['webhook']['rps']:.0f} req/s, ack p50/p99 {_ms(b['webhook']['ack_ms'], 'p50', 'p99')} ms;"
            f" bare endpoint {b['bare']['rps']:.0f} req/s, ack p50/p99 {_ms(b['bare']['ack_ms'], 'p50', 'p99')} ms;"
            f" ratio {r['throughput_ratio']}; backlog answered in {b['backlog_answered_s']} s",
            "  targets: " + "  ".join(f"{k} {'PASS' if ok else 'FAIL'}" for k, ok in r["targets"].items()),
        ]
    lines += [f"\n[{name}] skipped: {why}" for name, why in report["skipped"].items()]
    lines.append(f"\noverall: {'PASS' if report['passed'] else 'FAIL'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 when a target is missed."""
    p = argparse.ArgumentParser(prog="python -m benchmarks webhook")
    p.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    p.add_argument("--backends", default="sqlite,pg,pg-workers",
                   help="comma list of sqlite, pg, pg-workers (PostgreSQL ones skipped when it does not answer)")
    p.add_argument("--pg-url", default=os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG)
    p.add_argument("--rate", type=float, default=100.0, help="sustained messages per second (default 100)")
    p.add_argument("--duration", type=float, default=60.0, help="measured seconds at that rate (default 60)")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds sent before the measured ones (default 5)")
    p.add_argument("--settle", type=float, default=30.0, help="max seconds to wait for the last replies")
    p.add_argument("--clients", type=int, default=16, help="burst: keep-alive clients (default 16)")
    p.add_argument("--seconds", type=float, default=10.0, help="burst: seconds per endpoint (default 10)")
    p.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                   help="a setting for serve and worker (repeatable), e.g. BOT_ANSWER_THREADS=4")
    args = p.parse_args(argv)
    report = run(args)
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else format_report(report))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
