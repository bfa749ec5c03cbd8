"""Command line: python -m bot ask | chat | lint | eval (+ the service's commands)."""
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
SERVICE_MODULES = ("webhooks.cli", "webhooks.admin.cli")


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
    """Validate the catalog; exit 1 on any error."""
    from bot.lint import lint

    catalog = Path(args.path) if args.path else settings.catalog_path
    intents = Path(args.intents) if args.intents else (catalog.parent / "intents" if args.path else settings.intents_dir)
    problems = lint(catalog, intents)
    for p in problems:
        print(p)
    errors = sum(p.severity == "error" for p in problems)
    print(f"{errors} error(s), {len(problems) - errors} warning(s)", file=sys.stderr)
    return 1 if errors else 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Score a case file; --baseline adds rapidfuzz extractOne for comparison."""
    from bot.evaluate import CaseFileError, engine_predictor, format_report, load_cases, score_baseline, score_cases

    try:
        cases = load_cases(Path(args.file))
    except CaseFileError as exc:
        print(exc, file=sys.stderr)
        return 1
    engine = _engine(settings)
    result = score_cases(cases, engine_predictor(engine))
    base = score_baseline(cases, engine) if args.baseline else None
    if args.json:
        if base is not None:
            result["baseline"] = {k: v for k, v in base.items() if k != "cases"}
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print(format_report(result, "engine", failures=not args.quiet))
        if base is not None:
            print(format_report(base, f"baseline (rapidfuzz extractOne, best cutoff {base['cutoff']})", failures=False))
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
    p = sub.add_parser("lint", help="kiểm tra procedures.yaml và intents/")
    p.add_argument("path", nargs="?", help="procedures.yaml to check (its intents/ beside it)")
    p.add_argument("--intents", help="intents directory (default: beside PATH)")
    p.set_defaults(func=cmd_lint)
    p = sub.add_parser("eval", help="đo độ chính xác trên một tệp câu hỏi mẫu")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.add_argument("--baseline", action="store_true")
    p.add_argument("--quiet", action="store_true", help="do not list failed cases")
    p.set_defaults(func=cmd_eval)
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
