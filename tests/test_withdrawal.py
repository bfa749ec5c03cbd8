"""Withdrawal means gone: a citizen seeded into every table and file that can hold them, withdrawn, searched for."""
from __future__ import annotations

import json
import logging

import pytest

from sqlalchemy import func, select

from tests.conftest import signed_headers
from tests.test_admin_support import (admin, admin_app, admin_client, admin_settings, catalog_copy,  # noqa: F401
                                      post, reviewer, send_webhook, users)
from bot.catalog import load_catalog
from bot.catalog_edit import add_phrasings, history_dir_for
from webhooks.admin.clusters import build_clusters
from webhooks.catalog_purge import purge_pending
from webhooks.logs import PrivacyFilter, install_filter
from webhooks.privacy_check import scan_database, scan_files
from webhooks.storage.models import (AuditLog, CatalogDraft, CatalogPurge, CatalogVersion, Citizen, ClusterMark,
                                     TaughtPhrasing)
from webhooks.workers import run_until_idle

ZALO_ID = "7716005500123456789"
PHONE = "0987654321"
TAUGHT = f"số tôi {PHONE}, muốn hỏi đứa nhỏ mới đẻ thì ra xã lấy cái giấy gì trước tiên"
IGNORED = "con mèo nhà tôi bị lạc mất rồi giúp tôi với"
OTHER = "7716005500999999999"


def _withdraw(client, settings, user_id: str):
    payload = {"app_id": settings.zalo_app_id, "event_name": "user_withdraw", "sender": {"id": user_id},
               "timestamp": "1733300000000"}
    raw = json.dumps(payload).encode()
    return client.post("/webhooks/zalo", data=raw, headers=signed_headers(settings, raw, payload["timestamp"]))


def _cluster_key(app, db, fragment: str) -> str:
    with db.session() as s:
        clusters = build_clusters(s, app.config["SETTINGS"].engine.thresholds)
    return next(c.key for c in clusters if fragment in c.key)


@pytest.mark.timeout(600)  # a whole life: questions, teaching, marks, replies, withdrawal, purge, scans
def test_a_withdrawn_citizen_leaves_no_trace(reviewer, admin_app, admin_settings, db, catalog_copy, caplog, tmp_path):
    caplog.set_level(logging.INFO)
    install_filter()
    caplog.handler.addFilter(PrivacyFilter())
    services = admin_app.extensions["bot.services"]
    for user, text in ((ZALO_ID, TAUGHT), (ZALO_ID, IGNORED), (ZALO_ID, "mail tôi là lan.nguyen@gmail.com"),
                       (OTHER, IGNORED), (ZALO_ID, "cho tôi gặp cán bộ")):
        assert send_webhook(reviewer, admin_settings, user, text).status_code == 200
        run_until_idle(services)
    masked = TAUGHT.replace(PHONE, "*******321")
    teach = post(reviewer, "/admin/cau-hoi/day-bot", {"key": _cluster_key(admin_app, db, "dua nho"),
                                                       "entry_id": "khai-sinh", "phrasings": [masked]})
    assert teach.status_code == 302
    key = _cluster_key(admin_app, db, "meo")
    assert post(reviewer, "/admin/cau-hoi/tra-loi", {"key": key, "text": "Bạn báo công an xã nhé."}).status_code == 302
    assert post(reviewer, "/admin/cau-hoi/danh-dau", {"key": key, "status": "ignored"}).status_code == 302
    run_until_idle(services)
    catalog, intents = catalog_copy
    # A later edit keeps a history copy holding the taught phrasing.
    add_phrasings(catalog, intents, "ket-hon", ["đăng ký kết hôn ở xã mình cần giấy gì vậy ạ"])
    history = history_dir_for(catalog)
    assert any(masked in p.read_text(encoding="utf-8") for p in history.glob("*.yaml"))
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(TaughtPhrasing)) == 1
        assert s.scalar(select(func.count()).select_from(ClusterMark)) >= 2
    assert scan_database(db) == []  # stored masked: no phone number, no e-mail address in clear

    assert _withdraw(reviewer, admin_settings, ZALO_ID).get_json()["result"] == "deleted"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(CatalogPurge)) == 1  # queued with the deletion
    assert purge_pending(services) == 1
    assert purge_pending(services) == 0  # done once, nothing left to retry

    assert masked not in load_catalog(catalog, intents).entries["khai-sinh"].questions
    traces = [ZALO_ID, PHONE, "*******321", "đứa nhỏ mới đẻ thì ra xã", "lan.nguyen", "mèo nhà tôi bị lạc"]
    found = scan_database(db, traces) + scan_files([tmp_path], traces)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    found += [t for t in traces if t in logged]
    # The other citizen's identical question stays; only the withdrawn one's words are sought in it.
    assert [f for f in found if "mèo" not in getattr(f, "what", f)] == []
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Citizen).where(Citizen.zalo_id == ZALO_ID)) == 0
        actions = s.scalars(select(AuditLog.action)).all()
        assert {"catalog.phrasings", "cluster.reply", "cluster.ignored", "catalog.purge"} <= set(actions)


@pytest.mark.timeout(600)
def test_a_new_answer_drafted_from_a_question_leaves_with_its_asker(admin, admin_app, admin_settings, db,
                                                                    catalog_copy):
    services = admin_app.extensions["bot.services"]
    asked = "lũ cuốn mất chuồng bò nhà tôi thì xin hỗ trợ ở đâu"
    assert send_webhook(admin, admin_settings, ZALO_ID, asked).status_code == 200
    run_until_idle(services)
    page = admin.get(f"/admin/ban-nhap/moi?kind=faq&key={_cluster_key(admin_app, db, 'chuong bo')}")
    assert asked in page.get_data(as_text=True)  # the new-entry form starts from the citizen's question
    others = [f"hỗ trợ thiệt hại do lũ lụt {n}" for n in range(6)]  # still 6 once it leaves
    data = {"entry_id": "ho-tro-lu-lut", "title": "Hỗ trợ thiệt hại do lũ lụt", "summary": "Hộ bị thiệt hại.",
            "answer": "Báo trưởng thôn để được lập danh sách.", "questions": "\n".join([asked, *others])}
    assert post(admin, "/admin/ban-nhap/moi?kind=faq", data, token_from="/admin/ban-nhap/moi").status_code == 302
    with db.session() as s:
        draft_id = s.scalars(select(CatalogDraft.id)).one()
    published = post(admin, f"/admin/ban-nhap/{draft_id}/xuat-ban", {}, token_from=f"/admin/ban-nhap/{draft_id}")
    assert published.status_code == 302
    catalog, intents = catalog_copy
    assert asked in load_catalog(catalog, intents).entries["ho-tro-lu-lut"].questions
    with db.session() as s:
        assert s.scalars(select(TaughtPhrasing.phrasing)).all() == [asked]  # only the citizen's own words

    assert _withdraw(admin, admin_settings, ZALO_ID).get_json()["result"] == "deleted"
    assert purge_pending(services) == 1
    questions = load_catalog(catalog, intents).entries["ho-tro-lu-lut"].questions
    assert asked not in questions and set(others) <= set(questions)
    with db.session() as s:
        draft = s.get(CatalogDraft, draft_id)
        assert asked not in draft.fields["questions"] and asked not in draft.diff
        assert all(asked not in v.diff for v in s.scalars(select(CatalogVersion)))
    assert scan_database(db, [asked]) == []


def test_rows_stored_before_the_masking_step_are_masked_again(db):
    from webhooks.storage.models import ConversationRow, Message
    from webhooks.storage.remask import remask_stored

    with db.session() as s:
        citizen = Citizen(zalo_id=OTHER)
        s.add(citizen)
        s.flush()
        s.add(Message(citizen_id=citizen.id, direction="in", msg_id="old-1", text=f"sđt {PHONE}",
                      normalized=f"sdt {PHONE}", payload={"sender": {"id": OTHER}, "message": {"text": f"sđt {PHONE}"}}))
        s.add(Message(citizen_id=citizen.id, direction="out", text="gọi 02438251234", status="sent"))
        s.add(ConversationRow(zalo_id=OTHER, data={"question": f"mail a.b@gmail.com {PHONE}"}))
        s.add(ClusterMark(key=f"sdt {PHONE}", status="ignored", by="hoa"))
        s.add(AuditLog(username="hoa", action="cluster.ignored", detail={"key": f"sdt {PHONE}"}))
    assert scan_database(db) != []
    with db.transaction() as conn:
        assert remask_stored(conn) == 4
    assert scan_database(db) == []
    with db.session() as s:
        assert s.scalar(select(Message.payload).where(Message.msg_id == "old-1"))["sender"]["id"] == OTHER
        assert s.scalar(select(Message.text).where(Message.direction == "out")) == "gọi 02438251234"  # not a citizen's
