"""In Chromium: only an admin, after confirming, teaches into Khẩn cấp; a taught phrasing can be removed again."""
from __future__ import annotations

import re

from sqlalchemy import select

from tests.browser.conftest import LiveServer, live_server, page, shot, wait_for  # noqa: F401
from tests.test_admin_support import PASSWORD
from webhooks.storage.models import Message

# A real danger the detector's vocabulary does not cover: the bot falls back, staff see it in the queue.
DANGER = "kè sông sạt vào tận chân nhà"


def _login(page, server: LiveServer, username: str) -> None:
    page.goto(f"{server.url}/admin/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r".*/admin/cau-hoi.*"))


def _logout(page) -> None:
    page.get_by_role("button", name="Đăng xuất").click()
    page.wait_for_url(re.compile(r".*/admin/login.*"))


def _answer_to(server: LiveServer, fake_zalo, user_id: str) -> Message:
    """Send DANGER as `user_id` and wait until the bot has processed and replied to it."""
    assert server.send(user_id, DANGER) == 200

    def done() -> Message | None:
        replied = any(r.user_id == user_id for r in fake_zalo.delivered())
        with server.db.session() as s:
            row = s.scalars(select(Message).where(Message.direction == "in", Message.text == DANGER,
                                                  Message.status == "processed")
                            .order_by(Message.id.desc())).first()
        return row if replied and row is not None and row.citizen_id is not None else None

    return wait_for(done, f"the reply to {user_id}")


def _open_cluster_and_search(page, server: LiveServer) -> None:
    page.goto(f"{server.url}/admin/cau-hoi")
    page.locator("article.cluster", has_text=DANGER).get_by_role("link", name="Xử lý nhóm này").click()
    page.wait_for_url(re.compile(r".*/admin/cau-hoi/nhom.*"))
    page.fill("#q", "khẩn cấp")
    page.get_by_role("button", name="Tìm").click()


def test_emergency_teaching_is_for_admins_who_confirm_and_can_be_undone(live_server: LiveServer, page, fake_zalo):
    assert _answer_to(live_server, fake_zalo, "citizen-d1").outcome == "fallback"

    _login(page, live_server, "hoa")  # reviewer: sees the entry, cannot pick it
    _open_cluster_and_search(page, live_server)
    assert page.locator("button[name=entry_id][value=khan-cap]").count() == 0
    assert "chỉ quản trị viên được dạy vào mục này" in page.inner_text("#day-bot")
    shot(page, "10-tinh-nguyen-vien-khong-day-khan-cap")
    _logout(page)

    _login(page, live_server, "lan")  # admin: must tick the confirmation first
    _open_cluster_and_search(page, live_server)
    page.locator("button[name=entry_id][value=khan-cap]").first.click()
    assert "Đánh dấu ô xác nhận" in page.inner_text("#day-bot")
    shot(page, "11-quan-tri-xac-nhan-khan-cap")
    page.check("#confirm")
    page.get_by_role("button", name=re.compile("Dạy vào “Khẩn cấp”")).click()
    page.wait_for_url(re.compile(r".*/admin/cau-hoi(\?.*)?$"))
    assert "Đã dạy bot 1 câu" in page.inner_text("main")
    assert _answer_to(live_server, fake_zalo, "citizen-d2").outcome == "emergency"

    page.goto(f"{live_server.url}/admin/danh-muc/khan-cap#da-day")
    taught = page.locator("#da-day li", has_text=DANGER)
    shot(page, "12-cau-da-day-khan-cap")
    taught.get_by_role("button", name="Xoá").click()
    page.wait_for_url(re.compile(r".*/admin/danh-muc/khan-cap.*"))
    assert page.get_by_role("button", name="Khôi phục").count() == 1
    shot(page, "13-cau-da-xoa")
    assert _answer_to(live_server, fake_zalo, "citizen-d3").outcome == "fallback"
    assert page.dialogs == []
