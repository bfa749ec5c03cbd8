"""Run an evaluation case file against the engine (and optionally the obvious baseline)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml
from rapidfuzz import process

from bot.dialogue import Engine
from bot.state import MemoryStateStore


@dataclass(frozen=True)
class Case:
    """One evaluation case: text and the ids that are right (empty: must fall back)."""

    text: str
    expect: tuple[str, ...]


class CaseFileError(ValueError):
    """The case file is not a list of {text, expect} mappings."""


def load_cases(path: Path) -> list[Case]:
    """Read a YAML case file (see README for the format)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CaseFileError(f"{path}: {exc}") from exc
    if not isinstance(data, list):
        raise CaseFileError(f"{path}: expected a list of cases")
    cases = []
    for i, item in enumerate(data, 1):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or "expect" not in item:
            raise CaseFileError(f"{path}: case {i}: needs `text` (string) and `expect`")
        expect = item["expect"]
        ids = () if expect is None else (expect,) if isinstance(expect, str) else tuple(expect)
        cases.append(Case(item["text"], tuple(str(x) for x in ids)))
    return cases


Predictor = Callable[[str], tuple[str | None, tuple[str, ...] | None, float | None]]


def engine_predictor(engine: Engine) -> Predictor:
    """Each case is a fresh conversation: a new state store per text."""
    answered = ("answered", "handoff", "emergency")

    def predict(text: str) -> tuple[str | None, tuple[str, ...] | None, float | None]:
        turn = engine.respond("eval", text, MemoryStateStore())
        got = turn.intent if turn.outcome in answered else None
        clarify = turn.clarify if turn.outcome == "clarified" and turn.clarify else None
        return got, clarify, turn.score

    return predict


def baseline_predictor(engine: Engine, threshold: float = 0.0) -> Predictor:
    """The obvious approach: rapidfuzz extractOne over titles and phrasings, default processor."""
    choices, owners = baseline_choices(engine)

    def predict(text: str) -> tuple[str | None, tuple[str, ...] | None, float | None]:
        best = process.extractOne(text, choices, score_cutoff=threshold)
        if best is None:
            return None, None, None
        return owners[best[2]], None, best[1] / 100.0

    return predict


def score_baseline(cases: Sequence[Case], engine: Engine) -> dict[str, Any]:
    """The baseline at its best fall-back cutoff for these cases (chosen in the same run, to be fair to it)."""
    predict_raw = baseline_predictor(engine)  # build the choice list once, not once per case
    raw = [predict_raw(c.text) for c in cases]
    by_text = {c.text: r for c, r in zip(cases, raw)}
    best: dict[str, Any] | None = None
    for cutoff in range(0, 101, 5):
        def predict(text: str, cutoff: int = cutoff) -> tuple[str | None, None, float | None]:
            got, _, score = by_text[text]
            return (got, None, score) if score is not None and score * 100 >= cutoff else (None, None, score)

        result = score_cases(cases, predict)
        if best is None or result["accuracy"] > best["accuracy"]:
            best = dict(result, cutoff=cutoff)
    assert best is not None
    return best


def baseline_choices(engine: Engine) -> tuple[list[str], list[str]]:
    """Titles and example phrasings, with the id each belongs to."""
    choices, owners = [], []
    for entry in engine.catalog.entries.values():
        for text in (entry.title, *entry.questions):
            choices.append(text)
            owners.append(entry.id)
    return choices, owners


def score_cases(cases: Sequence[Case], predict: Predictor) -> dict[str, Any]:
    """Accuracy overall, in scope and out of scope, plus every case's outcome."""
    rows, buckets = [], {"in_scope": [0, 0], "out_of_scope": [0, 0]}
    clarified = 0
    for case in cases:
        got, clarify, score = predict(case.text)
        if case.expect:
            ok, bucket = got in case.expect, "in_scope"
        else:
            ok, bucket = got is None and clarify is None, "out_of_scope"
        buckets[bucket][0] += 1
        buckets[bucket][1] += ok
        clarified += clarify is not None
        rows.append({"text": case.text, "expect": list(case.expect) if len(case.expect) != 1 else case.expect[0],
                     "got": got, "clarify": list(clarify) if clarify else None, "score": score, "correct": ok})
        if not case.expect:
            rows[-1]["expect"] = None
    total = len(cases)
    correct = sum(b[1] for b in buckets.values())
    out: dict[str, Any] = {"total": total, "accuracy": _ratio(correct, total)}
    for name, (n, c) in buckets.items():
        out[name] = {"total": n, "correct": c, "accuracy": _ratio(c, n)}
    out["clarified"] = clarified
    out["cases"] = rows
    return out


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def format_report(result: dict[str, Any], label: str = "engine", failures: bool = True) -> str:
    """Human-readable summary of a result from score_cases."""
    ins, oos = result["in_scope"], result["out_of_scope"]
    lines = [f"{label}: accuracy {result['accuracy']:.1%} on {result['total']} cases — "
             f"in scope {ins['correct']}/{ins['total']} ({ins['accuracy']:.1%}), "
             f"out of scope {oos['correct']}/{oos['total']} ({oos['accuracy']:.1%}), "
             f"asked back {result['clarified']} times"]
    if failures:
        for row in result["cases"]:
            if not row["correct"]:
                what = f"asked back {row['clarify']}" if row["clarify"] else f"got {row['got']}"
                lines.append(f"  ✗ {row['text']!r}: expected {row['expect']}, {what} (score {row['score']})")
    return "\n".join(lines)
