"""Command line: python -m bot ask | chat | lint | eval | import-tthc (+ the service's commands)."""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Sequence

from bot.catalog import CatalogError
from bot.settings import Settings

# Service commands (serve, worker, users) live with the service; the core only offers them a place to register.
SERVICE_MODULES = ("webhooks.cli", "webhooks.admin.cli", "webhooks.privacy_check", "webhooks.communes.cli")


def _engine(settings: Settings):
    from bot.dialogue import Engine

    try:
        return Engine.from_settings(settings)
    except CatalogError as exc:
        print(exc, file=sys.stderr)
        print("Danh mục có lỗi — sửa rồi chạy lại `python -m bot lint`.", file=sys.stderr)
        raise SystemExit(1) from exc


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    """Answer one question and show the match."""
    from bot.state import MemoryStateStore

    engine = _engine(settings)
    turn = engine.respond("cli", args.text, MemoryStateStore())
    data = {"outcome": turn.outcome, "id": turn.intent, "score": turn.score,
            "alternatives": [{"id": c.id, "score": c.score} for c in turn.candidates],
            "clarify": list(turn.clarify), "normalized": turn.normalized,
            "replies": [r.to_dict() for r in turn.replies]}
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    for reply in turn.replies:
        print(reply.text)
        for b in reply.buttons:
            print(f"  [{b.title}] → {b.value}")
    alts = ", ".join(f"{c.id} {c.score:.2f}" for c in turn.candidates)
    print(f"\n— {turn.outcome}: {turn.intent or '-'} (score {turn.score}); candidates: {alts or '-'}")
    return 0


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    """Interactive session with state, for admins trying their edits."""
    from bot.dialogue import EngineHolder
    from bot.state import MemoryStateStore

    _engine(settings)  # fail early with the lint message
    holder, store = EngineHolder(settings), MemoryStateStore()
    print("Gõ câu hỏi (Ctrl-D hoặc /thoat để dừng; sửa procedures.yaml thì bot tự nạp lại).")
    for line in sys.stdin if not sys.stdin.isatty() else iter(lambda: input("bạn> "), None):
        text = line.rstrip("\n")
        if text.strip() in ("/thoat", "/quit"):
            break
        turn = holder.get().respond("chat", text, store)
        for reply in turn.replies:
            print("bot> " + reply.text.replace("\n", "\n     "))
            for i, b in enumerate(reply.buttons, 1):
                print(f"     [{b.title}] → gõ: {b.value}" if b.kind == "query" else f"     [{b.title}] {b.value}")
        print(f"     ({turn.outcome} {turn.intent or ''} {turn.score if turn.score is not None else ''})")
    return 0


def cmd_lint(args: argparse.Namespace, settings: Settings) -> int:
    """Validate the catalog and the national aliases; exit 1 on any error."""
    from bot.lint import lint

    catalog = Path(args.path) if args.path else settings.catalog_path
    intents = Path(args.intents) if args.intents else (catalog.parent / "intents" if args.path else settings.intents_dir)
    problems = lint(catalog, intents, demo=args.demo, national_index=settings.national_index,
                    national_aliases=settings.national_aliases)
    for p in problems:
        print(p)
    errors = sum(p.severity == "error" for p in problems)
    print(f"{errors} error(s), {len(problems) - errors} warning(s)", file=sys.stderr)
    return 1 if errors else 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Score a case file; --baseline adds the curated-only engine and rapidfuzz extractOne for comparison."""
    from bot.dialogue import Engine
    from bot.evaluate import (CaseFileError, answer_names, engine_predictor, format_report, load_cases,
                              score_baseline, score_cases)

    try:
        cases = load_cases(Path(args.file))
    except CaseFileError as exc:
        print(exc, file=sys.stderr)
        return 1
    engine = _engine(settings)
    names = answer_names(engine)
    result = score_cases(cases, engine_predictor(engine), names)
    baselines = {}
    if args.baseline:
        curated = Engine(engine.catalog, engine.thresholds)  # the same engine without the national tier
        baselines["curated_only"] = score_cases(cases, engine_predictor(curated), names)
        baselines["baseline"] = score_baseline(cases, engine)
    if args.json:
        for name, other in baselines.items():
            result[name] = {k: v for k, v in other.items() if k != "cases"}
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    print(format_report(result, "engine", failures=not args.quiet))
    if baselines:
        print(format_report(baselines["curated_only"], "curated catalog only (no national tier)", failures=False))
        cutoff = baselines["baseline"]["cutoff"]
        print(format_report(baselines["baseline"], f"baseline (rapidfuzz extractOne, best cutoff {cutoff})",
                            failures=False))
    return 0


def cmd_import_tthc(args: argparse.Namespace, settings: Settings) -> int:
    """Import portal records into the national index; exit 1 (nothing written) on unreadable input."""
    import datetime as dt

    from bot.national.importer import SourceError, format_report, run_import

    index = Path(args.index) if args.index else settings.national_index
    try:
        date = dt.date.fromisoformat(args.source_date) if args.source_date else None
        report = run_import([Path(f) for f in args.files], index, date)
    except ValueError as exc:
        print(f"--source-date: {exc} (YYYY-MM-DD)", file=sys.stderr)
        return 2
    except SourceError as exc:
        print(f"{exc}\nKhông ghi gì: chỉ mục cũ giữ nguyên.", file=sys.stderr)
        return 1
    print(format_report(report, index))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with service commands registered when their modules exist."""
    parser = argparse.ArgumentParser(prog="python -m bot", description="Trợ lý hướng dẫn thủ tục hành chính cấp xã")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ask", help="trả lời một câu hỏi")
    p.add_argument("text")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)
    sub.add_parser("chat", help="trò chuyện thử trong terminal").set_defaults(func=cmd_chat)
    p = sub.add_parser("lint", help="kiểm tra procedures.yaml, intents/ và national/aliases.yaml")
    p.add_argument("path", nargs="?", help="procedures.yaml to check (its intents/ beside it)")
    p.add_argument("--intents", help="intents directory (default: beside PATH)")
    p.add_argument("--demo", action="store_true", help="the example commune is expected (make test, make run)")
    p.set_defaults(func=cmd_lint)
    p = sub.add_parser("eval", help="đo độ chính xác trên một tệp câu hỏi mẫu")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.add_argument("--baseline", action="store_true")
    p.add_argument("--quiet", action="store_true", help="do not list failed cases")
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("import-tthc", help="nhập thủ tục của Cổng DVC quốc gia vào chỉ mục quốc gia")
    p.add_argument("files", nargs="+", metavar="FILE", help="portal records, one JSON object a line (.jsonl or .jsonl.gz)")
    p.add_argument("--index", help="index to write (default: the settings' national index)")
    p.add_argument("--source-date", help="date the records were collected, YYYY-MM-DD (default: the newest file's date)")
    p.set_defaults(func=cmd_import_tthc)
    for name in SERVICE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # that part of the service is not installed
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m bot`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    return int(args.func(args, settings) or 0)
