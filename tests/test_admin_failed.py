"""Page "Tin gửi lỗi": failed replies with their reason; admins send one again while Zalo's window is open."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from tests.test_admin_support import (admin, admin_app, admin_client, admin_settings, catalog_copy,  # noqa: F401
                                      csrf_token, reviewer, send_webhook, users)
from webhooks.storage.models import AuditLog, Citizen, Message, Outbox, utcnow
from webhooks.workers import run_until_idle

ERROR = "Công dân chưa quan tâm (follow) OA (-213)"


def failed_reply(admin_app, db, fake_zalo, user: str = "f-1") -> int:
    """A citizen's question answered, its reply refused by Zalo for good."""
    send_webhook(admin_app.test_client(), admin_app.config["SETTINGS"], user, "lam giay khai sinh")
    fake_zalo.fail_next(1, -213)
    run_until_idle(admin_app.extensions["bot.services"])
    with db.session() as s:
        return s.scalars(select(Outbox.id).where(Outbox.zalo_id == user, Outbox.status == "failed")).one()


def test_the_page_lists_failed_replies_with_their_reason(reviewer, admin_app, db, fake_zalo):
    failed_reply(admin_app, db, fake_zalo)
    page = reviewer.get("/admin/tin-gui-loi")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and ERROR in html
    assert "Gửi lại</button>" not in html  # reviewers see, admins act


def test_an_admin_sends_a_failed_reply_again_and_it_goes_once(admin, admin_app, db, fake_zalo):
    outbox_id = failed_reply(admin_app, db, fake_zalo)
    html = admin.get("/admin/tin-gui-loi").get_data(as_text=True)
    assert "Gửi lại</button>" in html
    response = admin.post(f"/admin/tin-gui-loi/{outbox_id}/gui-lai", data={"csrf_token": csrf_token(html)})
    assert response.status_code == 302
    with db.session() as s:
        row = s.get(Outbox, outbox_id)
        assert (row.status, row.attempts, row.last_error) == ("pending", 0, None)
        assert s.get(Message, row.message_id).status == "queued"
        assert s.scalars(select(AuditLog.action).where(AuditLog.action == "outbox.resend")).one()
    run_until_idle(admin_app.extensions["bot.services"])
    with db.session() as s:
        assert s.get(Outbox, outbox_id).status == "sent"
    assert len(fake_zalo.delivered()) == 1


@pytest.mark.parametrize("change", ["window closed", "unfollowed"])
def test_no_resend_outside_zalos_window(admin, admin_app, db, fake_zalo, change):
    outbox_id = failed_reply(admin_app, db, fake_zalo)
    values = ({"last_interaction": utcnow() - dt.timedelta(days=8)} if change == "window closed"
              else {"following": False})
    with db.session() as s:
        s.execute(update(Citizen).values(**values))
    html = admin.get("/admin/tin-gui-loi").get_data(as_text=True)
    assert "không gửi lại được" in html
    response = admin.post(f"/admin/tin-gui-loi/{outbox_id}/gui-lai", data={"csrf_token": csrf_token(html)},
                          follow_redirects=True)
    assert "Zalo không cho gửi lại" in response.get_data(as_text=True)
    with db.session() as s:
        assert s.get(Outbox, outbox_id).status == "failed"


def test_reviewers_cannot_resend(reviewer, admin_app, db, fake_zalo):
    outbox_id = failed_reply(admin_app, db, fake_zalo)
    token = csrf_token(reviewer.get("/admin/tin-gui-loi").get_data(as_text=True))
    assert reviewer.post(f"/admin/tin-gui-loi/{outbox_id}/gui-lai", data={"csrf_token": token}).status_code == 403


def test_a_resend_needs_its_form_token_and_a_real_row(admin, admin_app, db, fake_zalo):
    outbox_id = failed_reply(admin_app, db, fake_zalo)
    assert admin.post(f"/admin/tin-gui-loi/{outbox_id}/gui-lai", data={}).status_code == 400
    token = csrf_token(admin.get("/admin/tin-gui-loi").get_data(as_text=True))
    assert admin.post("/admin/tin-gui-loi/999999/gui-lai", data={"csrf_token": token}).status_code == 404
