"""Run an evaluation case file against the engine (and optionally the obvious baseline)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml
from rapidfuzz import process

from bot.dialogue import Engine
from bot.state import MemoryStateStore

EMERGENCY = "khan-cap"
_CODE = re.compile(r"\b\d\.\d{6}\b")  # a national procedure code (mã TTHC), e.g. 1.001193
ANSWERED = ("answered", "handoff", "emergency")


@dataclass(frozen=True)
class Case:
    """One evaluation case: text, the ids that are right (empty: must not be answered), its half."""

    text: str
    expect: tuple[str, ...]
    split: str = ""  # "tune" or "test" in files kept in two halves; "" otherwise


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
        split = item.get("split") or ""
        if split not in ("", "tune", "test"):
            raise CaseFileError(f"{path}: case {i}: split must be tune or test, not {split!r}")
        cases.append(Case(item["text"], tuple(str(x) for x in ids), split))
    return cases


Predictor = Callable[[str], tuple[str | None, tuple[str, ...] | None, float | None]]


def engine_predictor(engine: Engine) -> Predictor:
    """Each case is a fresh conversation: a new state store per text."""

    def predict(text: str) -> tuple[str | None, tuple[str, ...] | None, float | None]:
        turn = engine.respond("eval", text, MemoryStateStore())
        got = turn.intent if turn.outcome in ANSWERED else None
        clarify = turn.clarify if turn.outcome == "clarified" and turn.clarify else None
        return got, clarify, turn.score

    return predict


def answer_names(engine: Engine) -> dict[str, set[str]]:
    """Every name an answer goes by: a curated entry's id and the national codes it carries."""
    return {e.id: {e.id, *_CODE.findall(e.code)} for e in engine.catalog.entries.values()}


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
    raw = {c.text: predict_raw(c.text) for c in cases}
    names = answer_names(engine)
    best: dict[str, Any] | None = None
    for cutoff in range(0, 101, 5):
        def predict(text: str, cutoff: int = cutoff) -> tuple[str | None, None, float | None]:
            got, _, score = raw[text]
            return (got, None, score) if score is not None and score * 100 >= cutoff else (None, None, score)

        result = score_cases(cases, predict, names)
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


def score_cases(cases: Sequence[Case], predict: Predictor, names: dict[str, set[str]] | None = None) -> dict[str, Any]:
    """Accuracy overall, in and out of scope, emergencies both ways, each half, and every case's outcome.

    `names`: what each answer id also counts as (a curated entry answers for its national code).
    """
    names = names or {}
    rows = []
    for case in cases:
        got, clarify, score = predict(case.text)
        said = names.get(got, {got}) if got is not None else set()
        ok = bool(said & set(case.expect)) if case.expect else got is None and clarify is None
        rows.append({"text": case.text, "expect": None if not case.expect else
                     case.expect[0] if len(case.expect) == 1 else list(case.expect),
                     "got": got, "clarify": list(clarify) if clarify else None, "score": score, "correct": ok,
                     "split": case.split})
    out = _summary(cases, rows)
    splits = sorted({c.split for c in cases if c.split})
    if splits:
        out["splits"] = {s: _summary([c for c in cases if c.split == s], [r for r in rows if r["split"] == s])
                         for s in splits}
    out["cases"] = rows
    return out


def _summary(cases: Sequence[Case], rows: list[dict[str, Any]]) -> dict[str, Any]:
    buckets = {"in_scope": [0, 0], "out_of_scope": [0, 0]}
    emergencies = [0, 0]  # cases, detected
    alarms = [0, 0]  # non-emergency cases, answered as emergencies
    for case, row in zip(cases, rows):
        bucket = buckets["in_scope" if case.expect else "out_of_scope"]
        bucket[0] += 1
        bucket[1] += row["correct"]
        raised = row["got"] == EMERGENCY
        if EMERGENCY in case.expect:
            emergencies[0] += 1
            emergencies[1] += raised
        else:
            alarms[0] += 1
            alarms[1] += raised
    correct = sum(b[1] for b in buckets.values())
    out: dict[str, Any] = {"total": len(cases), "accuracy": _ratio(correct, len(cases))}
    for name, (n, c) in buckets.items():
        out[name] = {"total": n, "correct": c, "accuracy": _ratio(c, n)}
    out["clarified"] = sum(r["clarify"] is not None for r in rows)
    out["emergency"] = {"cases": emergencies[0], "detected": emergencies[1],
                        "recall": _ratio(emergencies[1], emergencies[0]),
                        "other_cases": alarms[0], "false_alarms": alarms[1],
                        "false_alarm_rate": _ratio(alarms[1], alarms[0])}
    return out


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def format_report(result: dict[str, Any], label: str = "engine", failures: bool = True) -> str:
    """Human-readable summary of a result from score_cases."""
    lines = [_line(result, label)]
    for name, part in (result.get("splits") or {}).items():
        lines.append(_line(part, f"  {name} half"))
    if failures:
        for row in result["cases"]:
            if not row["correct"]:
                what = f"asked back {row['clarify']}" if row["clarify"] else f"got {row['got']}"
                half = f" [{row['split']}]" if row.get("split") else ""
                lines.append(f"  ✗{half} {row['text']!r}: expected {row['expect']}, {what} (score {row['score']})")
    return "\n".join(lines)


def _line(result: dict[str, Any], label: str) -> str:
    ins, oos, em = result["in_scope"], result["out_of_scope"], result["emergency"]
    line = (f"{label}: accuracy {result['accuracy']:.1%} on {result['total']} cases — "
            f"in scope {ins['correct']}/{ins['total']} ({ins['accuracy']:.1%}), "
            f"out of scope {oos['correct']}/{oos['total']} ({oos['accuracy']:.1%}), "
            f"asked back {result['clarified']} times")
    if em["cases"]:
        line += (f"; emergencies {em['detected']}/{em['cases']} ({em['recall']:.1%}), "
                 f"false alarms {em['false_alarms']}/{em['other_cases']} ({em['false_alarm_rate']:.1%})")
    return line
