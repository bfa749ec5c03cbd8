"""Imports point one way: the core (bot/) never imports Flask, SQL, Zalo or the service."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parent.parent / "bot"
CORE = sorted(BOT.rglob("*.py"))
FORBIDDEN = ("flask", "sqlalchemy", "webhooks", "requests", "redis", "huey", "gunicorn", "alembic")


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(BOT)))
def test_core_module_imports_nothing_of_the_service(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    bad = [n for n in names if n.split(".")[0] in FORBIDDEN]
    assert bad == [], f"{path.name} imports {bad}"
