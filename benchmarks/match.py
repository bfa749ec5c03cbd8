"""Match-latency benchmark: the engine's matcher vs rapidfuzz extractOne, same choices, same run.

Rows: the curated catalog alone, and with the national tier (every record of national/index.jsonl),
at the shipped size and at a synthetic size; build time and the index's memory for each.
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import math
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Callable, Sequence

from rapidfuzz import process

from bot.catalog import Catalog
from bot.dialogue import Engine
from bot.evaluate import baseline_choices, load_cases
from bot.national import NationalIndex, load_national
from bot.settings import ROOT, Settings

SYLLABLES = ("an binh cam dao gia hoa khanh lam minh nam phuc quang son tan thanh trung vinh xuan yen "
             "bac dong tay ha thuong moi cu giay so dat nha xe dien nuoc cho truong tram").split()


def synthetic_catalog(catalog: Catalog, size: int, seed: int = 7) -> Catalog:
    """The shipped catalog grown to `size` entries by perturbed copies (new ids, shuffled words)."""
    rng = random.Random(seed)
    base = list(catalog.entries.values())
    entries = dict(catalog.entries)
    n = 0
    while len(entries) < size:
        src = base[n % len(base)]
        n += 1
        tag = " ".join(rng.sample(SYLLABLES, 2))

        def vary(text: str) -> str:
            words = text.split()
            rng.shuffle(words)
            return " ".join(words[: max(3, len(words) - 1)]) + " " + tag

        new = dataclasses.replace(src, id=f"{src.id}-s{n}", title=f"{src.title} {tag}",
                                  questions=tuple(vary(q) for q in src.questions),
                                  keywords=tuple(f"{k} {tag}" for k in src.keywords[:3]))
        entries[new.id] = new
    return dataclasses.replace(catalog, entries=entries)


def _latencies(fn: Callable[[str], object], queries: Sequence[str], repeat: int) -> list[float]:
    """Per query, the best of `repeat` timings: what the query costs, not what the scheduler added."""
    for q in queries[:20]:  # warm caches the same way for both sides
        fn(q)
    gc.collect()
    best = [math.inf] * len(queries)
    for _ in range(repeat):
        for i, q in enumerate(queries):
            t0 = time.perf_counter()
            fn(q)
            best[i] = min(best[i], (time.perf_counter() - t0) * 1000)
    return best


def _summary(ms: list[float]) -> dict[str, float]:
    qs = statistics.quantiles(ms, n=100)
    return {"p50_ms": round(statistics.median(ms), 3), "p99_ms": round(qs[98], 3), "n": len(ms)}


def _built(catalog: Catalog, national: NationalIndex | None) -> tuple[Engine, float, float]:
    """The engine, its build time in seconds, and the memory it holds in MB (a second, traced build)."""
    t0 = time.perf_counter()
    engine = Engine(catalog, national=national)
    build_s = time.perf_counter() - t0
    gc.collect()
    tracemalloc.start()
    traced = Engine(catalog, national=national)
    held_mb = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    del traced
    return engine, build_s, held_mb


def bench_catalog(catalog: Catalog, queries: Sequence[str], repeat: int = 3,
                  national: NationalIndex | None = None) -> dict[str, object]:
    """Latency of the engine's decision and the baseline over one catalog (and national tier), build time, memory."""
    engine, build_s, held_mb = _built(catalog, national)
    choices, _ = baseline_choices(engine)
    if national is not None:  # the baseline gets the same knowledge: every record's name and aliases
        choices += [text for r in national.records.values() for text in (r.name, *r.aliases)]
    # The engine's cache would flatter repeats: measure the uncached matcher. With the national tier the
    # decision is the arbiter's over both tiers, as a citizen's question gets it.
    if engine.national is None:
        def decide(q: str) -> object:
            return engine.matcher.match(q + " ", engine.thresholds)
    else:
        def decide(q: str) -> object:
            text = q + " "
            return engine.arbiter.choose(text, engine.normalize(text), engine.matcher.match(text, engine.thresholds))
    engine_ms = _latencies(decide, queries, repeat)
    base_ms = _latencies(lambda q: process.extractOne(q, choices), queries, repeat)
    records = len(national.records) if national is not None else 0
    return {"entries": len(catalog.entries), "records": records, "phrasings": len(choices),
            "index_build_s": round(build_s, 2), "engine_mb": round(held_mb, 1),
            "engine": _summary(engine_ms), "baseline": _summary(base_ms)}


def run(catalog: Catalog, queries: Sequence[str], sizes: Sequence[int] = (2000,),
        national: NationalIndex | None = None) -> list[dict[str, object]]:
    """Benchmark the shipped catalog and each synthetic size, each without and with the national tier."""
    # a fixed sample for the synthetic sizes: the baseline over tens of thousands of choices takes ~0.2 s a query
    sample = list(queries)[:: max(1, len(queries) // 150)]
    rows = []
    for tier in (None, national) if national is not None else (None,):
        suffix = "+national" if tier is not None else ""
        rows.append(dict(catalog="shipped" + suffix, **bench_catalog(catalog, queries, 3, tier)))
        for size in sizes:
            rows.append(dict(catalog=f"synthetic-{size}{suffix}",
                             **bench_catalog(synthetic_catalog(catalog, size), sample, 3, tier)))
    return rows


def format_rows(rows: list[dict]) -> str:
    """A small table."""
    lines = ["catalog                  entries records choices  engine p50/p99 ms  baseline p50/p99 ms  build s  engine MB"]
    for r in rows:
        e, b = r["engine"], r["baseline"]
        lines.append(f"{r['catalog']:<24} {r['entries']:>7} {r['records']:>7} {r['phrasings']:>7}"
                     f"  {e['p50_ms']:>7.3f} / {e['p99_ms']:<7.3f}  {b['p50_ms']:>8.3f} / {b['p99_ms']:<8.3f}"
                     f"  {r['index_build_s']:>7}  {r['engine_mb']:>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks match`: the shipped catalog and a synthetic one of --size entries."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks match")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--cases", default=str(ROOT / "tests" / "data" / "eval.yaml"))
    parser.add_argument("--no-national", action="store_true", help="skip the rows with the national tier")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    engine = Engine.from_settings(settings)
    national = None if args.no_national else load_national(settings.national_index, settings.national_aliases)
    rows = run(engine.catalog, [c.text for c in load_cases(Path(args.cases))], sizes=(args.size,), national=national)
    print(json.dumps(rows, indent=2) if args.json else format_rows(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
