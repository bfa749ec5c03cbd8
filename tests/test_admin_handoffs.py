"""Gặp cán bộ: open requests, conversation, reply through Zalo (window), close → the bot answers again."""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from tests.test_admin_support import (add_citizen, admin_app, admin_client, admin_settings, catalog_copy,  # noqa: F401
                                      post, reviewer, send_webhook, users)
from webhooks.workers import run_until_idle
from webhooks.storage.models import AuditLog, Citizen, Handoff, Message


def _handoff_via_webhook(client, app, settings, db, user: str = "h-1") -> int:
    send_webhook(client, settings, user, "cho tôi gặp cán bộ")
    run_until_idle(app.extensions["bot.services"])
    with db.session() as s:
        return s.scalars(select(Handoff.id)).one()


def test_handoff_flow_bot_silent_then_back(reviewer, admin_app, admin_settings, db, fake_zalo):
    handoff_id = _handoff_via_webhook(reviewer, admin_app, admin_settings, db)
    before = len(fake_zalo.delivered())
    send_webhook(reviewer, admin_settings, "h-1", '<script>alert("x")</script> cần gặp người thật')
    run_until_idle(admin_app.extensions["bot.services"])
    assert len(fake_zalo.delivered()) == before  # the bot stays silent while the request is open

    listing = reviewer.get("/admin/gap-can-bo").get_data(as_text=True)
    assert f"/admin/gap-can-bo/{handoff_id}" in listing and "<script>alert" not in listing
    page = reviewer.get(f"/admin/gap-can-bo/{handoff_id}").get_data(as_text=True)
    assert "cho tôi gặp cán bộ" in page and "&lt;script&gt;" in page and "<script>alert" not in page
    assert "h-1" not in page  # citizens appear under a pseudonym

    reply = post(reviewer, f"/admin/gap-can-bo/{handoff_id}/tra-loi", {"text": "Chào bạn, tôi là cán bộ xã."})
    assert reply.status_code == 302
    run_until_idle(admin_app.extensions["bot.services"])
    assert fake_zalo.delivered()[-1].body["message"]["text"] == "Chào bạn, tôi là cán bộ xã."
    assert "Cán bộ hoa" in reviewer.get(f"/admin/gap-can-bo/{handoff_id}").get_data(as_text=True)

    close = post(reviewer, f"/admin/gap-can-bo/{handoff_id}/dong", {})
    assert close.status_code == 302
    with db.session() as s:
        handoff = s.get(Handoff, handoff_id)
        assert handoff.closed_at is not None and handoff.closed_by == "hoa"
        actions = s.scalars(select(AuditLog.action).where(AuditLog.username == "hoa")).all()
        assert "handoff.reply" in actions and "handoff.close" in actions
    assert "Không có ai đang chờ" in reviewer.get("/admin/gap-can-bo").get_data(as_text=True)
    sent = len(fake_zalo.delivered())
    send_webhook(reviewer, admin_settings, "h-1", "làm giấy khai sinh cho con cần gì")
    run_until_idle(admin_app.extensions["bot.services"])
    assert len(fake_zalo.delivered()) > sent  # the bot answers again


def test_reply_after_the_window_is_refused_plainly(reviewer, admin_app, db, fake_zalo):
    citizen_id = add_citizen(db, "h-old", last=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10))
    with db.session() as s:
        s.add(Handoff(citizen_id=citizen_id))
    with db.session() as s:
        handoff_id = s.scalars(select(Handoff.id)).one()
    page = reviewer.get(f"/admin/gap-can-bo/{handoff_id}").get_data(as_text=True)
    assert "Đã quá 7 ngày" in page
    response = post(reviewer, f"/admin/gap-can-bo/{handoff_id}/tra-loi", {"text": "xin lỗi đã trả lời muộn"})
    run_until_idle(admin_app.extensions["bot.services"])
    assert fake_zalo.delivered() == []
    assert "Đã quá 7 ngày" in reviewer.get(response.headers["Location"]).get_data(as_text=True)
    with db.session() as s:
        assert s.scalars(select(Message).where(Message.direction == "out")).all() == []


def test_handoff_form_errors_and_missing(reviewer, admin_app, db):
    citizen_id = add_citizen(db, "h-2")
    with db.session() as s:
        s.add(Handoff(citizen_id=citizen_id))
    with db.session() as s:
        handoff_id = s.scalars(select(Handoff.id)).one()
    empty = post(reviewer, f"/admin/gap-can-bo/{handoff_id}/tra-loi", {"text": "  "})
    assert empty.status_code == 400 and "Vui lòng nhập nội dung trả lời." in empty.get_data(as_text=True)
    assert reviewer.get("/admin/gap-can-bo/999").status_code == 404
    assert post(reviewer, "/admin/gap-can-bo/999/dong", {}).status_code == 404
    post(reviewer, f"/admin/gap-can-bo/{handoff_id}/dong", {})
    closed = post(reviewer, f"/admin/gap-can-bo/{handoff_id}/tra-loi", {"text": "muộn rồi"})
    assert "Yêu cầu này đã đóng" in reviewer.get(closed.headers["Location"]).get_data(as_text=True)


def test_menu_badge_counts_open_handoffs(reviewer, db):
    for zalo_id in ("h-a", "h-b"):
        citizen_id = add_citizen(db, zalo_id)
        with db.session() as s:
            s.add(Handoff(citizen_id=citizen_id))
    html = reviewer.get("/admin/cau-hoi").get_data(as_text=True)
    assert re.search(r'<span class="badge" id="handoff-badge" [^>]*>2</span>', html)
    with db.session() as s:
        assert s.scalar(select(Citizen.id).where(Citizen.zalo_id == "h-a"))
