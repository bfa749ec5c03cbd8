"""The hand-over inbox: take/assign, states, notes, canned replies, search, history, who the citizen is."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tests.conftest import signed_headers
from tests.test_admin_support import (admin, admin_app, admin_client, admin_settings, catalog_copy, login,  # noqa: F401
                                      post, reviewer, send_webhook, users)
from webhooks.storage.models import (AuditLog, CannedReply, Citizen, CitizenProfile, Handoff, HandoffNote,
                                     StaffAlert)
from webhooks.workers import run_until_idle

CITIZEN = "dan-inbox"


def _run(app) -> None:
    run_until_idle(app.extensions["bot.services"])


def _handoff(client, app, settings, db, user: str = CITIZEN) -> int:
    send_webhook(client, settings, user, "cho tôi gặp cán bộ")
    _run(app)
    with db.session() as s:
        return s.scalars(select(Handoff.id).join(Citizen, Citizen.id == Handoff.citizen_id)
                         .where(Citizen.zalo_id == user)).one()


def _event(settings, payload: dict) -> tuple[bytes, dict]:
    payload = {"app_id": settings.zalo_app_id, "timestamp": "1763769600000", **payload}
    raw = json.dumps(payload, ensure_ascii=False).encode()
    return raw, signed_headers(settings, raw, payload["timestamp"])


def _submit_info(client, settings, user: str, phone: str = "0912345678"):
    raw, headers = _event(settings, {"event_name": "user_submit_info", "sender": {"id": user},
                                     "recipient": {"id": "oa"}, "info": {"name": "Trần Văn Bình", "phone": phone,
                                                                         "address": "Thôn Đông"}})
    return client.post("/webhooks/zalo", data=raw, headers=headers)


def test_take_wait_citizen_writes_back_resolve(reviewer, admin_app, admin_settings, db):
    handoff_id = _handoff(reviewer, admin_app, admin_settings, db)
    assert reviewer.get("/admin/gap-can-bo/dem").get_json() == {"open": 1, "todo": 1, "mine": 0}
    assert post(reviewer, f"/admin/gap-can-bo/{handoff_id}/giao", {"assignee": "hoa"}).status_code == 302
    assert reviewer.get("/admin/gap-can-bo/dem").get_json()["mine"] == 1
    assert "hoa" in reviewer.get("/admin/gap-can-bo?xem=cua-toi").get_data(as_text=True)
    post(reviewer, f"/admin/gap-can-bo/{handoff_id}/trang-thai", {"state": "waiting"})
    assert reviewer.get("/admin/gap-can-bo/dem").get_json()["todo"] == 0
    assert f"/admin/gap-can-bo/{handoff_id}" in reviewer.get("/admin/gap-can-bo?xem=cho").get_data(as_text=True)
    send_webhook(reviewer, admin_settings, CITIZEN, "tôi gửi thêm giấy tờ rồi")
    _run(admin_app)
    with db.session() as s:
        assert s.get(Handoff, handoff_id).state is None  # the citizen wrote: staff's turn again
    post(reviewer, f"/admin/gap-can-bo/{handoff_id}/trang-thai", {"state": "resolved"})
    with db.session() as s:
        found = s.get(Handoff, handoff_id)
        assert (found.closed_by, found.assignee) == ("hoa", "hoa") and found.closed_at is not None
    done = reviewer.get("/admin/gap-can-bo?xem=xong").get_data(as_text=True)
    assert f"/admin/gap-can-bo/{handoff_id}" in done
    page = reviewer.get(f"/admin/gap-can-bo/{handoff_id}").get_data(as_text=True)
    for said in ("nhận xử lý", "đổi trạng thái", "đóng yêu cầu"):
        assert said in page  # who did what


def test_a_reviewer_takes_but_cannot_assign_others(reviewer, admin_app, admin_settings, db):
    handoff_id = _handoff(reviewer, admin_app, admin_settings, db)
    assert post(reviewer, f"/admin/gap-can-bo/{handoff_id}/giao", {"assignee": "lan"}).status_code == 403
    with db.session() as s:
        assert s.get(Handoff, handoff_id).assignee is None


def test_an_admin_assigns_to_a_member_only(admin, admin_app, admin_settings, db):
    handoff_id = _handoff(admin, admin_app, admin_settings, db)
    assert post(admin, f"/admin/gap-can-bo/{handoff_id}/giao", {"assignee": "nobody"}).status_code == 400
    assert post(admin, f"/admin/gap-can-bo/{handoff_id}/giao", {"assignee": "hoa"}).status_code == 302
    with db.session() as s:
        assert s.get(Handoff, handoff_id).assignee == "hoa"
        assert s.scalars(select(AuditLog.action).where(AuditLog.action == "handoff.assign")).one()


@pytest.mark.parametrize("state, status", [("open", 302), ("waiting", 302), ("closed", 400), ("", 400)])
def test_state_values(reviewer, admin_app, admin_settings, db, state, status):
    handoff_id = _handoff(reviewer, admin_app, admin_settings, db)
    assert post(reviewer, f"/admin/gap-can-bo/{handoff_id}/trang-thai", {"state": state}).status_code == status


def test_notes_are_private_and_searchable(reviewer, admin_app, admin_settings, db, fake_zalo):
    handoff_id = _handoff(reviewer, admin_app, admin_settings, db)
    sent = len(fake_zalo.delivered())
    assert post(reviewer, f"/admin/gap-can-bo/{handoff_id}/ghi-chu", {"text": ""}).status_code == 400
    post(reviewer, f"/admin/gap-can-bo/{handoff_id}/ghi-chu", {"text": "Hẹn gọi lại chiều thứ 6 <b>"})
    _run(admin_app)
    assert len(fake_zalo.delivered()) == sent  # never sent to the citizen
    page = reviewer.get(f"/admin/gap-can-bo/{handoff_id}").get_data(as_text=True)
    assert "Hẹn gọi lại chiều thứ 6 &lt;b&gt;" in page
    assert f"/admin/gap-can-bo/{handoff_id}" in reviewer.get("/admin/gap-can-bo?q=gọi lại").get_data(as_text=True)
    assert f"/admin/gap-can-bo/{handoff_id}" in reviewer.get("/admin/gap-can-bo?q=gặp cán bộ").get_data(as_text=True)
    assert f"/admin/gap-can-bo/{handoff_id}" not in reviewer.get("/admin/gap-can-bo?q=100%").get_data(as_text=True)


@pytest.mark.parametrize("query, found", [("start=2020-01-01", True), ("end=2020-01-01", False),
                                          ("start=2099-01-01", False)])
def test_search_by_dates(reviewer, admin_app, admin_settings, db, query, found):
    handoff_id = _handoff(reviewer, admin_app, admin_settings, db)
    page = reviewer.get(f"/admin/gap-can-bo?{query}").get_data(as_text=True)
    assert (f"/admin/gap-can-bo/{handoff_id}" in page) is found


def test_bad_dates_are_a_clear_error(reviewer):
    response = reviewer.get("/admin/gap-can-bo?start=2026-05-01&end=2026-04-01")
    assert response.status_code == 400 and "Ngày kết thúc phải sau ngày bắt đầu" in response.get_data(as_text=True)
    assert reviewer.get("/admin/gap-can-bo?start=hôm-qua").status_code == 400


def test_canned_replies_admins_edit_everyone_sends(admin_client, users, admin_app, admin_settings, db, fake_zalo):
    login(admin_client, "hoa")
    assert admin_client.get("/admin/mau-tra-loi").status_code == 403
    assert post(admin_client, "/admin/mau-tra-loi", {"title": "x", "text": "y"}).status_code == 403
    admin_client.post("/admin/logout", data={"csrf_token": ""})
    lan = admin_app.test_client()
    login(lan, "lan")
    assert post(lan, "/admin/mau-tra-loi", {"title": "", "text": "y"}).status_code == 400
    assert post(lan, "/admin/mau-tra-loi", {"title": "Hẹn lên xã",
                                            "text": "Mời bạn lên bộ phận một cửa sáng thứ 2."}).status_code == 302
    with db.session() as s:
        canned_id = s.scalars(select(CannedReply.id)).one()
    handoff_id = _handoff(lan, admin_app, admin_settings, db)
    hoa = admin_app.test_client()
    login(hoa, "hoa")
    assert "Hẹn lên xã" in hoa.get(f"/admin/gap-can-bo/{handoff_id}").get_data(as_text=True)
    assert post(hoa, f"/admin/gap-can-bo/{handoff_id}/mau", {"canned_id": "999"}).status_code == 400
    assert post(hoa, f"/admin/gap-can-bo/{handoff_id}/mau", {"canned_id": str(canned_id)}).status_code == 302
    _run(admin_app)
    assert fake_zalo.delivered()[-1].body["message"]["text"] == "Mời bạn lên bộ phận một cửa sáng thứ 2."
    assert post(lan, f"/admin/mau-tra-loi/{canned_id}/xoa", {}).status_code == 302
    with db.session() as s:
        assert s.scalars(select(CannedReply)).all() == []


def test_who_the_citizen_is_from_zalo_and_the_shared_form(reviewer, admin_app, admin_settings, db, fake_zalo):
    fake_zalo.profiles[CITIZEN] = {"display_name": "Bình Trần", "avatars": {"240": "https://s240-ava-talk.zadn.vn/a.jpg"}}
    handoff_id = _handoff(reviewer, admin_app, admin_settings, db)
    assert fake_zalo.detail_requests == [CITIZEN]  # looked up once, when staff were alerted
    page = reviewer.get(f"/admin/gap-can-bo/{handoff_id}").get_data(as_text=True)
    assert "Bình Trần" in page and 'src="https://s240-ava-talk.zadn.vn/a.jpg"' in page and "chưa có" in page

    assert post(reviewer, f"/admin/gap-can-bo/{handoff_id}/xin-so", {}).status_code == 302
    _run(admin_app)
    form = fake_zalo.delivered()[-1].body["message"]["attachment"]["payload"]
    assert form["template_type"] == "request_user_info" and form["elements"][0]["title"]
    assert "đã xin lúc" in reviewer.get(f"/admin/gap-can-bo/{handoff_id}").get_data(as_text=True)

    assert _submit_info(reviewer, admin_settings, CITIZEN).get_json()["result"] == "recorded"
    page = reviewer.get(f"/admin/gap-can-bo/{handoff_id}").get_data(as_text=True)
    assert 'href="tel:0912345678"' in page and "Trần Văn Bình" in page and "Thôn Đông" in page
    assert "Trần Văn Bình" in reviewer.get("/admin/gap-can-bo").get_data(as_text=True)
    assert f"/admin/gap-can-bo/{handoff_id}" in reviewer.get("/admin/gap-can-bo?q=0912").get_data(as_text=True)


@pytest.mark.parametrize("info, stored", [({"phone": "gọi tôi nhé"}, "ignored"), ({}, "ignored"),
                                          ({"phone": "+84 912 345 678"}, "recorded")])
def test_shared_info_is_checked(admin_client, admin_settings, db, info, stored):
    raw, headers = _event(admin_settings, {"event_name": "user_submit_info", "sender": {"id": "dan-x"}, "info": info})
    assert admin_client.post("/webhooks/zalo", data=raw, headers=headers).get_json()["result"] == stored


def test_withdrawal_deletes_profile_phone_notes_and_alerts(reviewer, admin_app, admin_settings, db, fake_zalo):
    fake_zalo.profiles[CITIZEN] = {"display_name": "Bình Trần"}
    handoff_id = _handoff(reviewer, admin_app, admin_settings, db)
    _submit_info(reviewer, admin_settings, CITIZEN)
    post(reviewer, f"/admin/gap-can-bo/{handoff_id}/ghi-chu", {"text": "số nhà 12"})
    with db.session() as s:
        assert s.scalars(select(CitizenProfile.phone)).one() == "0912345678"
        assert s.scalars(select(HandoffNote)).all() and s.scalars(select(StaffAlert)).all()
    raw, headers = _event(admin_settings, {"event_name": "user_withdraw", "sender": {"id": CITIZEN},
                                           "recipient": {"id": "oa"}})
    assert reviewer.post("/webhooks/zalo", data=raw, headers=headers).get_json()["result"] == "deleted"
    with db.session() as s:
        for table in (CitizenProfile, HandoffNote, StaffAlert, Handoff, Citizen):
            assert s.scalars(select(table)).all() == []
    assert reviewer.get(f"/admin/gap-can-bo/{handoff_id}").status_code == 404


def test_exports_carry_no_name_or_phone(admin, admin_app, admin_settings, db, fake_zalo):
    fake_zalo.profiles[CITIZEN] = {"display_name": "Bình Trần"}
    _handoff(admin, admin_app, admin_settings, db)
    _submit_info(admin, admin_settings, CITIZEN)
    csv = admin.get("/admin/xuat-csv?download=1").get_data(as_text=True)
    assert "cho tôi gặp cán bộ" in csv
    assert "Trần Văn Bình" not in csv and "0912345678" not in csv and "Bình Trần" not in csv


def test_pages_need_login(admin_client):
    for url in ("/admin/gap-can-bo", "/admin/gap-can-bo/dem", "/admin/thong-bao", "/admin/mau-tra-loi"):
        response = admin_client.get(url)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
