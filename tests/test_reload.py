"""EngineHolder: a catalog edit is picked up (files checked at most every `check_every` s); a broken edit keeps the previous version serving."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bot.dialogue import EngineHolder
from bot.settings import Settings
from bot.state import MemoryStateStore

ROOT = Path(__file__).resolve().parent.parent


def make_holder(tmp_path: Path, check_every: float) -> EngineHolder:
    shutil.copy(ROOT / "procedures.yaml", tmp_path / "procedures.yaml")
    shutil.copytree(ROOT / "intents", tmp_path / "intents")
    return EngineHolder(Settings(catalog_path=tmp_path / "procedures.yaml", intents_dir=tmp_path / "intents"),
                        check_every=check_every)


@pytest.fixture
def holder(tmp_path: Path) -> EngineHolder:
    return make_holder(tmp_path, check_every=0)


def _touch_later(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def test_edit_is_picked_up(holder):
    path = holder.settings.catalog_path
    before = holder.get().catalog.version
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("title: \"Đăng ký khai sinh\"", "title: \"Đăng ký khai sinh cho trẻ\"", 1), encoding="utf-8")
    _touch_later(path)
    engine = holder.get()
    assert engine.catalog.version != before
    assert engine.catalog.get("khai-sinh").title == "Đăng ký khai sinh cho trẻ"


def test_broken_edit_keeps_serving_previous_version(holder):
    path = holder.settings.catalog_path
    good = holder.get()
    path.write_text(path.read_text(encoding="utf-8") + "\n  - id: [broken\n", encoding="utf-8")
    _touch_later(path)
    engine = holder.get()
    assert engine is good
    assert holder.last_error is not None and "procedures.yaml:" in str(holder.last_error)
    turn = engine.respond("u", "lam giay khai sinh", MemoryStateStore())
    assert turn.intent == "khai-sinh"


def _retitle_khai_sinh(holder: EngineHolder) -> None:
    path = holder.settings.catalog_path
    path.write_text(path.read_text(encoding="utf-8").replace("Đăng ký khai sinh", "Khai sinh", 1), encoding="utf-8")
    _touch_later(path)


def test_files_are_checked_at_most_once_per_interval(tmp_path):
    holder = make_holder(tmp_path, check_every=3600)
    before = holder.get()
    _retitle_khai_sinh(holder)
    assert holder.get() is before  # within the interval: no look at the files
    holder.check_every = 0
    assert holder.get() is not before


def test_fresh_looks_at_the_files_now(tmp_path):
    holder = make_holder(tmp_path, check_every=3600)
    before = holder.get()
    _retitle_khai_sinh(holder)
    assert holder.get() is before
    assert holder.get(fresh=True) is not before  # the dashboard: an admin's save shows on the next page
    assert holder.get(fresh=True).catalog.entries["khai-sinh"].title == "Khai sinh"
