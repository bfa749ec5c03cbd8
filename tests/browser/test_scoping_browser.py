"""In Chromium at phone width: a province admin edits a shared fee and two communes answer with it; one
commune overrides it in its layer (the test writes communes/<slug>/commune.yaml: the dashboard has no
editor for a commune's overrides) and only that commune changes."""
from __future__ import annotations

import json
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.browser.conftest import PASSWORD, LiveServer, live_server, page, shot, wait_for  # noqa: F401
from tests.browser.test_catalog_browser import FEE_QUESTION, NEW_FEE, OLD_FEE, SLOW_MS, _publish_waiting_draft
from tests.browser.test_dashboard_browser import _login
from tests.commune_layers import layer_text, write_layer
from tests import communes_setup
from tests.communes_setup import route_to_fakes, text_event
from tests.fake_zalo import FakeZalo
from webhooks.admin.accounts import create_user
from webhooks.communes.registry import add_commune
from webhooks.zalo.signature import sign

OWN_FEE = "Lệ phí riêng của xã Bình Minh: 5.000đ"
pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def live_options(tmp_path: Path):
    return {"settings": {}, "config": {}, "engine": {"communes_dir": tmp_path / "communes"}}


@pytest.fixture
def two_communes(live_server: LiveServer, tmp_path: Path):
    """an-phu and binh-minh, each its own FakeZalo OA, their layers without overrides; a province admin."""
    with ExitStack() as stack:
        found = {}
        for n, slug in enumerate(("an-phu", "binh-minh"), 1):
            fake = stack.enter_context(FakeZalo(app_id=f"app-{slug}", app_secret=f"s-{slug}",
                                                access_token=f"a-{slug}", refresh_token=f"r-{slug}"))
            name = f"Xã {slug}"
            write_layer(tmp_path / "communes", slug, layer_text(name, n))
            cid = add_commune(live_server.db, slug=slug, name=name, province="Tỉnh Thử", oa_id=f"oa-{slug}",
                              app_id=fake.app_id, app_secret=fake.app_secret, oa_secret_key=f"key-{slug}",
                              access_token=fake.access_token, refresh_token=fake.refresh_token)
            found[slug] = communes_setup.TestCommune(cid, slug, name, f"0200 000 {n:03d}", f"oa-{slug}", fake.app_id,
                                      f"key-{slug}", fake)
        services = live_server.app.extensions["bot.services"]
        services.communes.registry.forget()  # the registry caches "no communes" for a few seconds
        route_to_fakes(services, found)
        with live_server.db.session() as s:
            create_user(s, "tinh", PASSWORD, "admin", by="test", province_admin=True)
        yield found


def _ask(server: LiveServer, commune: communes_setup.TestCommune, user: str, text: str) -> str:
    """`text` from citizen `user` to this commune's OA; the bot's next reply there."""
    def replies() -> list[str]:
        return [r.body["message"]["text"] for r in commune.fake.delivered() if r.user_id == user]

    before = len(replies())
    payload = text_event(commune, user, text)
    raw = json.dumps(payload, ensure_ascii=False).encode()
    mac = sign(app_id=commune.app_id, raw_body=raw, timestamp=payload["timestamp"], secret_key=commune.secret_key)
    request = urllib.request.Request(f"{server.url}/webhooks/zalo/{commune.slug}", data=raw, method="POST",
                                     headers={"Content-Type": "application/json", "X-ZEvent-Signature": mac})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    wait_for(lambda: len(replies()) > before, f"the reply to {text!r}", timeout=SLOW_MS / 1000)
    return replies()[-1]


def test_province_fee_then_one_commune_overrides_it(live_server: LiveServer, two_communes, page, tmp_path):
    page.set_default_timeout(SLOW_MS)
    an, binh = two_communes["an-phu"], two_communes["binh-minh"]
    assert OLD_FEE in _ask(live_server, an, "c-an", FEE_QUESTION)
    assert OLD_FEE in _ask(live_server, binh, "c-binh", FEE_QUESTION)

    _login(page, live_server, "tinh")
    page.get_by_role("link", name="Toàn tỉnh").click()
    assert "Xã an-phu" in page.inner_text("main") and "Xã binh-minh" in page.inner_text("main")
    shot(page, "41-toan-tinh")
    page.get_by_role("link", name="Sửa nội dung").click()
    page.get_by_role("link", name="Đăng ký khai sinh", exact=True).click()
    page.fill("#fee", NEW_FEE)
    page.get_by_role("button", name="Lưu bản nháp").click()
    shot(page, "42-ban-nhap-phi-chung")
    _publish_waiting_draft(page, "43")
    assert NEW_FEE in _ask(live_server, an, "c-an", FEE_QUESTION)
    assert NEW_FEE in _ask(live_server, binh, "c-binh", FEE_QUESTION)

    write_layer(tmp_path / "communes", "binh-minh", layer_text("Xã binh-minh", 2, fee=OWN_FEE))
    wait_for(lambda: OWN_FEE in _ask(live_server, binh, "c-binh", FEE_QUESTION), "binh-minh's own fee",
             timeout=30)
    reply = _ask(live_server, an, "c-an", FEE_QUESTION)
    assert NEW_FEE in reply and OWN_FEE not in reply
    page.get_by_role("link", name="Toàn tỉnh").click()
    shot(page, "44-toan-tinh-sau")
    assert page.dialogs == []
