"""In Chromium at phone width: a member links Zalo, a hand-over alerts them by e-mail and Zalo, they take it,
send a canned reply, ask for the phone and resolve it; "Bỏ qua" undone; a cluster answered per person."""
from __future__ import annotations

import json
import re
import urllib.request

import pytest

from tests.browser.conftest import LiveServer, live_server, page, shot, wait_for  # noqa: F401
from tests.browser.test_dashboard_browser import _login, _replies
from tests.conftest import signed_headers
from tests.smtp_server import smtp_overrides, smtp_sink  # noqa: F401

STAFF_ZALO = "zalo-cua-hoa"
CITIZEN = "nguoi-dan-1"
CANNED = "Chào bạn, cán bộ xã đã nhận yêu cầu và sẽ gọi lại cho bạn trong hôm nay."
QUESTION = "đứa nhỏ mới đẻ thì ra xã lấy cái giấy gì trước tiên"


@pytest.fixture
def live_options(smtp_sink):  # noqa: F811
    """Alerts to the local SMTP server; the menu badge looks every half second."""
    return {"settings": smtp_overrides(smtp_sink), "config": {"BADGE_POLL_MS": 500}}


def _post_event(server: LiveServer, payload: dict) -> int:
    payload = {"app_id": server.settings.zalo_app_id, "timestamp": "1763769600000", **payload}
    raw = json.dumps(payload, ensure_ascii=False).encode()
    request = urllib.request.Request(f"{server.url}/webhooks/zalo", data=raw, method="POST",
                                     headers=signed_headers(server.settings, raw, payload["timestamp"]))
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def _logout(page) -> None:
    page.get_by_role("button", name="Đăng xuất").click()


def test_handoff_alert_take_canned_reply_resolve(live_server: LiveServer, page, fake_zalo, smtp_sink):
    # An admin writes the canned reply every member can send.
    _login(page, live_server, "lan")
    page.get_by_role("link", name="Mẫu trả lời").click()
    page.fill("#title", "Đã nhận, sẽ gọi lại")
    page.fill("#text", CANNED)
    page.get_by_role("button", name="Thêm").click()
    assert "Đã lưu mẫu" in page.inner_text("main")
    shot(page, "staff-01-mau-tra-loi")
    _logout(page)

    # A member sets an e-mail address and links their Zalo account with the one-time code.
    _login(page, live_server, "hoa")
    page.get_by_role("link", name="Thông báo").click()
    page.fill("#email", "hoa@xa.example")
    page.get_by_role("button", name="Lưu").click()
    assert "Đã lưu cài đặt thông báo." in page.inner_text("main")
    page.get_by_role("button", name="Tạo mã").click()
    code = page.inner_text("#link-code")
    assert re.fullmatch(r"CB-\d{6}", code)
    shot(page, "staff-02-ma-lien-ket")
    assert live_server.send(STAFF_ZALO, code) == 200
    wait_for(lambda: any("Đã liên kết" in t for t in _replies(fake_zalo, STAFF_ZALO)), "the link confirmation")
    page.reload()
    assert "Đã liên kết" in page.inner_text("#zalo")

    # A citizen asks for a person: the badge counts it without a reload; e-mail and Zalo reach the member.
    page.get_by_role("link", name=re.compile("Gặp cán bộ")).first.click()
    assert page.locator("#handoff-badge").is_hidden()
    fake_zalo.profiles[CITIZEN] = {"display_name": "Lò Thị Hoa"}  # no avatar: the test browser stays offline
    assert live_server.send(CITIZEN, "cho tôi gặp cán bộ") == 200
    page.locator("#handoff-badge", has_text="1").wait_for(state="visible", timeout=15000)
    mail = wait_for(lambda: smtp_sink.received, "the alert e-mail")[0]
    assert mail.recipients == ["hoa@xa.example"] and "Lò Thị Hoa" in mail.message["Subject"]
    assert "/admin/gap-can-bo/" in mail.body
    zalo_alert = wait_for(lambda: [t for t in _replies(fake_zalo, STAFF_ZALO) if "muốn gặp cán bộ" in t],
                          "the alert on the member's Zalo")
    assert "Lò Thị Hoa" in zalo_alert[0]
    page.reload()
    shot(page, "staff-03-hop-thu")

    # The member takes it, sends the canned reply, asks for the phone, notes, resolves.
    page.get_by_role("link", name="Xem và trả lời").click()
    assert "Lò Thị Hoa" in page.inner_text(".profile")
    page.get_by_role("button", name="Nhận xử lý").click()
    assert "Bạn đã nhận xử lý" in page.inner_text("main")
    page.get_by_role("button", name="Đã nhận, sẽ gọi lại").click()
    wait_for(lambda: CANNED in _replies(fake_zalo, CITIZEN), "the canned reply at Zalo")
    page.get_by_role("button", name="Xin số điện thoại qua Zalo").click()
    wait_for(lambda: [r for r in fake_zalo.delivered() if r.user_id == CITIZEN and "attachment" in r.body["message"]],
             "the request-user-info form at Zalo")
    assert _post_event(live_server, {"event_name": "user_submit_info", "sender": {"id": CITIZEN},
                                     "recipient": {"id": "oa"}, "info": {"name": "Lò Thị Hoa", "phone": "0987654321",
                                                                         "address": "Bản Mường"}}) == 200
    page.reload()
    assert page.locator("a.phone").get_attribute("href") == "tel:0987654321"
    page.fill("#note-text", "Đã hẹn gọi lại lúc 15 giờ.")
    page.get_by_role("button", name="Lưu ghi chú").click()
    shot(page, "staff-04-yeu-cau")
    page.get_by_role("button", name=re.compile("Đóng yêu cầu")).click()
    assert "Không có ai đang chờ gặp cán bộ." in page.inner_text("main")
    page.get_by_role("link", name="Đã xong").click()
    page.get_by_role("link", name="Xem", exact=True).click()
    history = page.inner_text("#lich-su")
    for did in ("nhận xử lý", "gửi mẫu trả lời", "xin số điện thoại", "ghi chú", "đóng yêu cầu"):
        assert did in history
    shot(page, "staff-05-lich-su")
    assert page.dialogs == []


def test_undo_ignore_and_reply_per_person(live_server: LiveServer, page, fake_zalo):
    for user in ("dan-a", "dan-b"):
        assert live_server.send(user, QUESTION) == 200
    wait_for(lambda: len(fake_zalo.delivered()) >= 2, "the bot's replies")
    _login(page, live_server, "hoa")
    cluster = page.locator("article.cluster", has_text=QUESTION)
    cluster.get_by_role("link", name="Xử lý nhóm này").click()
    page.get_by_role("button", name=re.compile("Bỏ qua")).click()
    assert page.locator("article.cluster", has_text=QUESTION).count() == 0
    shot(page, "staff-06-vua-bo-qua")
    page.locator("#vua-bo-qua").get_by_role("button", name="Hoàn tác").click()
    assert "Đã hoàn tác" in page.inner_text("main")
    assert page.locator("article.cluster", has_text=QUESTION).count() == 1

    page.locator("article.cluster", has_text=QUESTION).get_by_role("link", name="Xử lý nhóm này").click()
    askers = page.locator("li.asker")
    assert askers.count() == 2 and QUESTION in askers.first.inner_text()
    page.fill("#reply-text", "Bạn mang giấy chứng sinh ra bộ phận một cửa để làm khai sinh nhé.")
    askers.nth(1).locator("summary").click()
    askers.nth(1).locator("textarea").fill("Chào bạn, cháu nhà bạn cần giấy chứng sinh của bệnh viện.")
    shot(page, "staff-07-tra-loi-tung-nguoi")
    page.get_by_role("button", name="Gửi cho người dân").click()
    assert "Đã gửi trả lời cho 2/2 người dân." in page.inner_text("main")
    wait_for(lambda: len([r for r in fake_zalo.delivered() if "giấy chứng sinh" in r.body["message"]["text"]]) == 2,
             "both replies at Zalo")
    texts = {r.body["message"]["text"] for r in fake_zalo.delivered() if "giấy chứng sinh" in r.body["message"]["text"]}
    assert texts == {"Bạn mang giấy chứng sinh ra bộ phận một cửa để làm khai sinh nhé.",
                     "Chào bạn, cháu nhà bạn cần giấy chứng sinh của bệnh viện."}
    assert page.dialogs == []
