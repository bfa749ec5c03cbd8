"""End to end in Chromium: webhook questions → cluster → teach `khai-sinh` → answered; XSS; handoff."""
from __future__ import annotations

import re

from sqlalchemy import select

from tests.browser.conftest import LiveServer, live_server, page, shot, wait_for  # noqa: F401
from tests.test_admin_support import PASSWORD
from webhooks.storage.models import Handoff, Message

QUESTION = "đứa nhỏ mới đẻ thì ra xã lấy cái giấy gì trước tiên"
XSS = ['<script>alert("xss")</script>', '"><img src=x onerror=alert(1)>']


def _login(page, server: LiveServer, username: str) -> None:
    page.goto(f"{server.url}/admin/")
    assert "/admin/login" in page.url
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r".*/admin/cau-hoi.*"))


def _last_inbound(server: LiveServer, zalo_text: str) -> Message | None:
    with server.db.session() as s:
        return s.scalars(select(Message).where(Message.direction == "in", Message.text == zalo_text,
                                               Message.status == "processed")
                         .order_by(Message.id.desc())).first()


def _replies(fake_zalo, user_id: str) -> list[str]:
    return [r.body["message"]["text"] for r in fake_zalo.delivered() if r.user_id == user_id]


def test_teach_the_bot_from_a_cluster(live_server: LiveServer, page, fake_zalo):
    for user in ("citizen-1", "citizen-2"):
        assert live_server.send(user, QUESTION) == 200
    for i, text in enumerate(XSS):
        assert live_server.send(f"citizen-x{i}", text) == 200
    wait_for(lambda: len(fake_zalo.delivered()) >= 4, "the bot's replies to 4 questions")
    assert _last_inbound(live_server, QUESTION).outcome == "fallback"

    page.goto(f"{live_server.url}/admin/cau-hoi")
    shot(page, "01-dang-nhap")
    _login(page, live_server, "hoa")
    cluster = page.locator("article.cluster", has_text=QUESTION)
    assert "2 lần hỏi" in cluster.inner_text()
    for text in XSS:  # shown as text, never run
        assert page.get_by_text(text, exact=True).count() >= 1
    assert page.locator("img").count() == 0 and page.dialogs == []
    shot(page, "02-cau-hoi-chua-tra-loi")

    cluster.get_by_role("link", name="Xử lý nhóm này").click()
    page.wait_for_url(re.compile(r".*/admin/cau-hoi/nhom.*"))
    page.fill("#q", "khai sinh")
    page.get_by_role("button", name="Tìm").click()
    shot(page, "03-nhom-cau-hoi")
    page.locator("button[name=entry_id][value=khai-sinh]").first.click()
    page.wait_for_url(re.compile(r".*/admin/cau-hoi(\?.*)?$"))
    assert "Đã dạy bot 1 câu" in page.inner_text("main")
    assert page.locator("article.cluster", has_text=QUESTION).count() == 0

    assert live_server.send("citizen-3", QUESTION) == 200
    answered = wait_for(lambda: _last_inbound(live_server, QUESTION) if len(_replies(fake_zalo, "citizen-3")) else None,
                        "the reply to the same question")
    assert (answered.outcome, answered.intent) == ("answered", "khai-sinh")
    assert page.dialogs == []


def test_handoff_flow_and_every_page(live_server: LiveServer, page, fake_zalo):
    assert live_server.send("citizen-h", "cho tôi gặp cán bộ") == 200
    wait_for(lambda: _replies(fake_zalo, "citizen-h"), "the handoff acknowledgement")
    with live_server.db.session() as s:
        assert s.scalars(select(Handoff).where(Handoff.closed_at.is_(None))).one()
    assert live_server.send("citizen-h", XSS[0]) == 200
    wait_for(lambda: _last_inbound(live_server, XSS[0]), "the silent message to be stored")
    assert len(_replies(fake_zalo, "citizen-h")) == 1  # silent while staff have the conversation

    _login(page, live_server, "hoa")
    page.get_by_role("link", name=re.compile("Gặp cán bộ")).first.click()
    shot(page, "04-gap-can-bo")
    page.get_by_role("link", name="Xem và trả lời").click()
    assert page.get_by_text(XSS[0], exact=True).count() == 1 and page.dialogs == []
    page.fill("#reply-text", "Chào bạn, cán bộ xã đây. Bạn cần giúp gì?")
    page.get_by_role("button", name="Gửi qua Zalo").click()
    assert "Đã gửi trả lời qua Zalo." in page.inner_text("main")
    wait_for(lambda: "Chào bạn, cán bộ xã đây. Bạn cần giúp gì?" in _replies(fake_zalo, "citizen-h"),
             "the staff reply at Zalo")
    shot(page, "05-tro-chuyen")
    page.get_by_role("button", name=re.compile("Đóng yêu cầu")).click()
    assert "Không có ai đang chờ gặp cán bộ." in page.inner_text("main")
    before = len(_replies(fake_zalo, "citizen-h"))
    assert live_server.send("citizen-h", "làm giấy khai sinh cho con cần gì") == 200
    wait_for(lambda: len(_replies(fake_zalo, "citizen-h")) > before, "the bot answering again")

    page.get_by_role("link", name="Thống kê").click()
    assert page.locator("svg.chart rect.day").count() >= 1
    shot(page, "06-thong-ke")
    page.get_by_role("link", name="Thử bot").click()
    page.fill("#text", "làm giấy khai sinh cho con cần gì")
    page.get_by_role("button", name="Gửi", exact=True).click()
    assert "khai-sinh" in page.inner_text("main")
    shot(page, "07-thu-bot")
    assert page.get_by_role("link", name="Danh mục").count() == 0  # reviewers do not see admin pages
    page.goto(f"{live_server.url}/admin/danh-muc")
    assert "Không có quyền" in page.inner_text("main")

    page.get_by_role("button", name="Đăng xuất").click()
    _login(page, live_server, "lan")
    page.get_by_role("link", name="Danh mục").click()
    assert "khai-sinh" in page.inner_text("main")
    shot(page, "08-danh-muc")
    page.get_by_role("link", name="Xuất CSV").click()
    shot(page, "09-xuat-csv")
    page.get_by_role("link", name="Tài khoản").click()
    assert "hoa" in page.inner_text("main")
    shot(page, "10-tai-khoan")
