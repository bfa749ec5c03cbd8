"""Engines for many communes: the province's shared, each commune's layer reloaded on its own, a broken one isolated."""
from __future__ import annotations

import os
import shutil

import pytest

from bot.communes import CommuneEngines, CommuneUnavailable
from bot.dialogue import EngineHolder
from bot.settings import ROOT, Settings
from bot.state import MemoryStateStore
from tests.commune_layers import layer_text, write_layer
from tests.test_overlay import EXTRA

SLUGS = ("an-phu", "binh-minh", "cat-tien")


def _touch_later(path):
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


@pytest.fixture
def layered(tmp_path, engines):
    for n, slug in enumerate(SLUGS, 1):
        write_layer(tmp_path, slug, layer_text(f"Xã {slug}", n, fee=f"Lệ phí {n}"))
    return CommuneEngines(engines, tmp_path, check_every=0)


def _answer(engine, text="làm giấy khai sinh cho con"):
    return "\n".join(r.text for r in engine.respond("u", text, MemoryStateStore()).replies)


def test_each_commune_answers_with_its_own_facts_over_the_shared_matcher(layered, engines):
    base = engines.get()
    for n, slug in enumerate(SLUGS, 1):
        engine = layered.for_commune(slug)
        assert engine.matcher is base.matcher and engine.national is base.national
        assert engine.catalog.commune.name == f"Xã {slug}"
        assert f"Lệ phí {n}" in _answer(engine)
        assert f"0200 000 {n:03d}" in _answer(engine, "số điện thoại của xã")
    assert layered.get() is base and base.catalog.commune.name.startswith("Xã Minh An")
    assert layered.for_commune("an-phu") is layered.for_commune("an-phu")  # built once


def test_extra_and_disabled_entries_share_the_province_index(tmp_path, layered, engines):
    write_layer(tmp_path, "dong-xuan", layer_text("Xã Đồng Xuân", 9, disabled=("ket-hon",)) + EXTRA)
    engine, base = layered.for_commune("dong-xuan"), engines.get()
    assert engine.matcher.base is base.matcher  # a view over the one index, not a second index
    ask = lambda e, text: e.respond("u", text, MemoryStateStore())  # noqa: E731
    for text in ("chợ phiên thôn đông họp ngày nào", "lich cho phien", "chợ phiên"):
        assert ask(engine, text).intent == "cho-phien-dong", text
        assert ask(layered.for_commune("an-phu"), text).intent != "cho-phien-dong"
    assert ask(base, "đăng ký kết hôn cần gì").intent == "ket-hon"
    married = ask(engine, "đăng ký kết hôn cần gì")
    assert married.intent != "ket-hon" and all(c.id != "ket-hon" for c in married.candidates)
    assert ask(engine, "làm giấy khai sinh cho con").intent == "khai-sinh"  # the rest answers as before


def test_a_broken_edit_keeps_that_commune_on_its_previous_version(tmp_path, layered):
    before = {slug: layered.for_commune(slug) for slug in SLUGS}
    path = write_layer(tmp_path, "binh-minh", layer_text("Xã binh-minh", 2) + "disabled:\n  - khong-co\n")
    _touch_later(path)
    assert layered.for_commune("binh-minh") is before["binh-minh"]
    error = layered.errors["binh-minh"]
    assert f"{path}:14:" in str(error) and "khong-co" in str(error)
    assert all(layered.for_commune(slug) is before[slug] for slug in SLUGS)
    assert set(layered.errors) == {"binh-minh"}
    path = write_layer(tmp_path, "binh-minh", layer_text("Xã binh-minh", 2, fee="Lệ phí mới"))
    _touch_later(path)
    fixed = layered.for_commune("binh-minh")
    assert fixed is not before["binh-minh"] and "Lệ phí mới" in _answer(fixed) and not layered.errors
    assert layered.for_commune("an-phu") is before["an-phu"]  # an edit reloads only its commune


def test_a_layer_that_never_loaded_serves_nothing(tmp_path, layered):
    write_layer(tmp_path, "hong", "commune: {}\n")
    with pytest.raises(CommuneUnavailable, match="hong"):
        layered.for_commune("hong")
    assert layered.preload(("an-phu", "hong")).keys() == {"hong"}


def test_a_shared_edit_rebuilds_every_commune_over_the_new_catalog(tmp_path):
    shutil.copy(ROOT / "procedures.yaml", tmp_path / "procedures.yaml")
    shutil.copytree(ROOT / "intents", tmp_path / "intents")
    settings = Settings.from_env({}, catalog_path=tmp_path / "procedures.yaml", intents_dir=tmp_path / "intents")
    base = EngineHolder(settings, check_every=0)
    for n, slug in enumerate(SLUGS, 1):
        write_layer(tmp_path / "communes", slug, layer_text(f"Xã {slug}", n))
    layered = CommuneEngines(base, tmp_path / "communes", check_every=0)
    before = {slug: layered.for_commune(slug) for slug in SLUGS}
    catalog = tmp_path / "procedures.yaml"
    catalog.write_text(catalog.read_text(encoding="utf-8").replace("Cấp bản sao", "Cấp lại bản sao", 1),
                       encoding="utf-8")
    _touch_later(catalog)
    after = {slug: layered.for_commune(slug) for slug in SLUGS}
    assert all(after[s] is not before[s] and after[s].matcher is base.get().matcher for s in SLUGS)
    assert after["an-phu"].catalog.commune.name == "Xã an-phu"
