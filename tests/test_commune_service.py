"""Three communes on one deployment: routing by address and OA id, own secrets, own tokens, isolated failures."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from tests.communes_setup import SLUGS, post_signed, route_to_fakes, text_event, three_communes
from tests.conftest import manual_app, wait_for
from webhooks.communes.registry import set_enabled
from webhooks.storage.models import Citizen, Message, Outbox


@pytest.fixture
def multi(settings, db, engines, tmp_path):
    """(app, communes): the app over three communes, claim loop not started."""
    layered = replace(settings, engine=replace(settings.engine, communes_dir=tmp_path / "communes"))
    with three_communes(db, tmp_path / "communes") as communes, manual_app(layered, db, engines) as app:
        route_to_fakes(app.extensions["bot.services"], communes)
        yield app, communes


def _texts(fake):
    return [r.body["message"]["text"] for r in fake.delivered()]


def _count(db, table, *where):
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(table).where(*where))


def test_each_commune_answers_with_its_own_facts_and_token(multi, db):
    app, communes = multi
    client, services = app.test_client(), app.extensions["bot.services"]
    for slug, commune in communes.items():
        by_address = post_signed(client, f"/webhooks/zalo/{slug}", text_event(commune, f"u-{slug}", "số điện thoại của xã"),
                                 commune)
        by_oa_id = post_signed(client, "/webhooks/zalo", text_event(commune, f"v-{slug}", "làm giấy khai sinh cho con"),
                               commune)
        assert by_address.status_code == by_oa_id.status_code == 200
        assert by_address.json["result"] == by_oa_id.json["result"] == "stored"
    from webhooks.workers import run_until_idle
    run_until_idle(services)
    for slug, commune in communes.items():
        sends = commune.fake.delivered()
        assert {s.user_id for s in sends} == {f"u-{slug}", f"v-{slug}"}
        assert {s.headers["access_token"] for s in sends} == {f"access-{slug}"}
        text = "\n".join(_texts(commune.fake))
        assert commune.phone in text and f"Lệ phí của {commune.name}" in text
        others = [c for c in communes.values() if c is not commune]
        assert not any(o.phone in text or o.name in text for o in others)
        assert _count(db, Citizen, Citizen.commune_id == commune.id) == 2


def test_a_wrong_communes_signature_is_refused(multi, db):
    app, communes = multi
    client = app.test_client()
    a, b = communes["an-phu"], communes["binh-minh"]
    assert post_signed(client, "/webhooks/zalo/binh-minh", text_event(b, "u1", "xin chào"), a).status_code == 401
    assert post_signed(client, "/webhooks/zalo", text_event(b, "u1", "xin chào"), a).status_code == 401
    assert post_signed(client, "/webhooks/zalo/khong-co", text_event(b, "u1", "xin chào"), b).status_code == 404
    assert _count(db, Message) == 0 and _count(db, Citizen) == 0
    assert app.extensions["bot.signature_rejections"].value == 2


def test_a_disabled_commune_is_acknowledged_and_not_stored(multi, db):
    app, communes = multi
    set_enabled(db, "cat-tien", False)
    app.extensions["bot.services"].communes.registry.forget()
    c = communes["cat-tien"]
    answer = post_signed(app.test_client(), "/webhooks/zalo/cat-tien", text_event(c, "u1", "xin chào"), c)
    assert answer.status_code == 200 and answer.json["result"] == "ignored" and _count(db, Message) == 0


def test_one_oas_token_failure_does_not_hold_up_another(multi, db):
    app, communes = multi
    client, services = app.test_client(), app.extensions["bot.services"]
    a, b = communes["an-phu"], communes["binh-minh"]
    a.fake.expire_access_token()
    a.fake.down(oauth_only=True)  # A's token is refused and cannot be refreshed
    post_signed(client, "/webhooks/zalo/an-phu", text_event(a, "ua", "làm giấy khai sinh"), a)
    post_signed(client, "/webhooks/zalo/binh-minh", text_event(b, "ub", "làm giấy khai sinh"), b)
    from webhooks.workers import run_until_idle
    run_until_idle(services)
    assert [s.user_id for s in b.fake.delivered()] == ["ub"] and not a.fake.delivered()
    assert not b.fake.refreshes  # B never touched A's refresh
    row = db.engine.connect().execute(select(Outbox.status, Outbox.last_error).where(Outbox.zalo_id == "ua")).first()
    assert row.status == "pending" and "token" in row.last_error
    a.fake.up()
    with db.engine.begin() as conn:  # A's row falls due; A's OA refreshes under its own lock and sends
        conn.execute(Outbox.__table__.update().values(next_attempt_at=Outbox.created_at))
    services.communes.clients._health.clear()
    run_until_idle(services)
    assert [s.user_id for s in a.fake.delivered()] == ["ua"] and len(a.fake.issued()) == 1
    assert services.communes.clients.client(a.id).tokens.load().access_token == a.fake.access_token


@pytest.mark.parametrize("trouble", ["hang", "down", "http 503"])
def test_one_oas_outage_does_not_delay_anothers_replies(multi, db, trouble):
    app, communes = multi
    client, services = app.test_client(), app.extensions["bot.services"]
    a, b = communes["an-phu"], communes["binh-minh"]
    if trouble == "hang":
        a.fake.delay_next(10, 5.0)  # longer than the client's timeout (2 s in tests)
    elif trouble == "down":
        a.fake.down()
    else:
        a.fake.http_status_next(10, 503)
    workers = app.extensions["bot.workers"]
    workers.start()
    try:
        for n in range(6):  # more of A's citizens than claim-loop threads (4)
            post_signed(client, "/webhooks/zalo/an-phu", text_event(a, f"ua{n}", "làm giấy khai sinh"), a)
        time.sleep(0.3)  # A's replies are being sent (or hanging) first
        started = time.monotonic()
        for n in range(3):
            post_signed(client, "/webhooks/zalo/binh-minh", text_event(b, f"ub{n}", "làm giấy khai sinh"), b)
        assert wait_for(lambda: len(b.fake.delivered()) == 3, timeout=10)
        elapsed = time.monotonic() - started
    finally:
        workers.stop()
    assert elapsed < 1.5, f"B's replies took {elapsed:.2f} s while A's OA was in trouble ({trouble})"
    assert not a.fake.delivered()


def test_a_broken_layer_isolates_its_commune(multi, db, tmp_path):
    app, communes = multi
    client, services = app.test_client(), app.extensions["bot.services"]
    from tests.commune_layers import layer_text, write_layer
    from webhooks.workers import run_until_idle
    for slug, commune in communes.items():
        post_signed(client, f"/webhooks/zalo/{slug}", text_event(commune, f"u-{slug}", "xin chào"), commune)
    run_until_idle(services)
    write_layer(tmp_path / "communes", "binh-minh", layer_text("Xã Bình Minh mới", 2) + "disabled:\n  - khong-co\n")
    import os
    path = tmp_path / "communes" / "binh-minh" / "commune.yaml"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 2_000_000_000))
    services.communes.engines.check_every = 0
    for slug, commune in communes.items():
        post_signed(client, f"/webhooks/zalo/{slug}", text_event(commune, f"u-{slug}", "số điện thoại của xã"), commune)
    run_until_idle(services)
    for slug, commune in communes.items():
        last = commune.fake.delivered()[-1].body["message"]["text"]
        assert commune.phone in last and "Bình Minh mới" not in last  # binh-minh still on its previous version
    health = client.get("/healthz").json
    assert list(health["commune_errors"]) == ["binh-minh"]
    assert f"{path}:14:" in health["commune_errors"]["binh-minh"]


def test_an_idle_handoff_notice_names_the_citizens_commune(multi, db):
    import datetime as dt

    from webhooks.inbox.handoffs import close_idle
    from webhooks.storage.models import utcnow
    from webhooks.workers import run_until_idle
    app, communes = multi
    client, services = app.test_client(), app.extensions["bot.services"]
    b = communes["binh-minh"]
    post_signed(client, "/webhooks/zalo/binh-minh", text_event(b, "ub", "gặp cán bộ"), b)
    run_until_idle(services)
    later = utcnow() + dt.timedelta(hours=services.settings.handoff_idle_hours, minutes=1)
    assert close_idle(services, later) == 1
    run_until_idle(services)
    notice = b.fake.delivered()[-1].body["message"]["text"]
    assert "tự đóng" in notice and b.phone in notice


def test_commune_names_for_staff_pages(multi):
    app, communes = multi
    names = app.extensions["bot.services"].communes
    assert names.name_of(communes["an-phu"].id) == "Xã an-phu"
    assert names.name_of(None).startswith("Xã Minh An")  # the environment's commune: procedures.yaml
