"""In Chromium at phone width: catalog edits as drafts, published by an admin, rolled back; a new answer
created straight from a misunderstood question. The bot is asked through the webhook after each step."""
from __future__ import annotations

import re

import pytest

from tests.browser.conftest import LiveServer, live_server, page, shot, wait_for  # noqa: F401
from tests.browser.test_dashboard_browser import _last_inbound, _login, _replies

NEW_FEE = "Lệ phí 20.000đ một lần, nộp tại bộ phận một cửa (thử nghiệm)"
OLD_FEE = "Miễn phí nếu đăng ký trong 60 ngày kể từ ngày sinh"
FEE_QUESTION = "lệ phí khai sinh bao nhiêu"
FLOOD = "trợ cấp lũ lụt nhận ở đâu"
# Publishing reloads the engine (the whole catalog and the national index): seconds on a busy machine.
SLOW_MS = 180_000
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(autouse=True)
def _patient(page):
    page.set_default_timeout(SLOW_MS)


def _ask(server: LiveServer, fake_zalo, user: str, text: str) -> str:
    """Send `text` as citizen `user` and return the bot's next reply."""
    before = len(_replies(fake_zalo, user))
    assert server.send(user, text) == 200
    wait_for(lambda: len(_replies(fake_zalo, user)) > before, f"the reply to {text!r}", timeout=SLOW_MS / 1000)
    return _replies(fake_zalo, user)[-1]


def _switch(page, server: LiveServer, username: str) -> None:
    page.get_by_role("button", name="Đăng xuất").click()
    _login(page, server, username)


def _publish_waiting_draft(page, name: str) -> None:
    """As an admin: open the waiting draft, look at its diff, publish it."""
    page.get_by_role("link", name="Sửa nội dung").click()
    page.locator("#cho-duyet a").first.click()
    page.wait_for_url(re.compile(r".*/admin/ban-nhap/\d+$"))
    assert page.locator("pre.diff .add").count() >= 2  # the change and today's `reviewed`
    shot(page, f"{name}-ban-nhap-quan-tri")
    page.get_by_role("button", name="Xuất bản và cập nhật bot").click()
    page.wait_for_url(re.compile(r".*/admin/lich-su-danh-muc$"))
    assert "Đã xuất bản" in page.inner_text("main")


def test_fee_draft_published_then_rolled_back(live_server: LiveServer, page, fake_zalo):
    assert OLD_FEE in _ask(live_server, fake_zalo, "citizen-fee", FEE_QUESTION)

    _login(page, live_server, "hoa")
    page.get_by_role("link", name="Sửa nội dung").click()
    shot(page, "11-sua-noi-dung")
    page.get_by_role("link", name="Đăng ký khai sinh", exact=True).click()
    page.fill("#fee", "")
    page.get_by_role("button", name="Lưu bản nháp").click()
    assert "Mục này không được để trống." in page.inner_text("main")  # an empty fee is refused
    page.fill("#fee", NEW_FEE)
    shot(page, "12-sua-muc")
    page.get_by_role("button", name="Lưu bản nháp").click()
    page.wait_for_url(re.compile(r".*/admin/ban-nhap/\d+$"))
    main = page.inner_text("main")
    assert "Đã lưu bản nháp" in main and NEW_FEE in main
    assert page.get_by_role("button", name="Xuất bản và cập nhật bot").count() == 0  # reviewers cannot
    shot(page, "13-ban-nhap-nguoi-soan")
    assert OLD_FEE in _ask(live_server, fake_zalo, "citizen-fee", FEE_QUESTION)  # a draft changes nothing

    _switch(page, live_server, "lan")
    _publish_waiting_draft(page, "14")
    shot(page, "15-lich-su")
    assert NEW_FEE in _ask(live_server, fake_zalo, "citizen-fee", FEE_QUESTION)

    page.locator("article.version").first.get_by_role("button", name="Quay lại trước phiên bản này").click()
    assert "Đã quay lại danh mục" in page.inner_text("main")
    shot(page, "16-da-khoi-phuc")
    reply = _ask(live_server, fake_zalo, "citizen-fee", FEE_QUESTION)
    assert OLD_FEE in reply and NEW_FEE not in reply
    assert page.dialogs == []


def test_new_answer_from_a_misunderstood_question(live_server: LiveServer, page, fake_zalo):
    for user in ("citizen-l1", "citizen-l2"):
        _ask(live_server, fake_zalo, user, FLOOD)
    assert _last_inbound(live_server, FLOOD).outcome == "fallback"

    _login(page, live_server, "hoa")
    page.locator("article.cluster", has_text=FLOOD).get_by_role("link", name="Xử lý nhóm này").click()
    page.get_by_role("link", name="Tạo câu trả lời mới từ các câu này").click()
    page.wait_for_url(re.compile(r".*/admin/ban-nhap/moi.*"))
    assert FLOOD in page.input_value("#questions")  # started from the citizens' own words
    page.fill("#entry_id", "tro-cap-lu-lut")
    page.fill("#title", "Hỗ trợ hộ bị thiệt hại do lũ lụt")
    page.fill("#summary", "Hộ bị thiệt hại do lũ lụt được xét hỗ trợ theo danh sách của thôn.")
    page.fill("#answer", "Hộ bị thiệt hại do lũ lụt báo trưởng thôn để được lập danh sách; UBND xã xét và chi hỗ trợ.")
    page.get_by_role("button", name="Lưu bản nháp").click()
    assert "Cần ít nhất 6 câu hỏi mẫu" in page.inner_text("main")  # as lint: six phrasings
    more = ["hỗ trợ lũ lụt ở đâu", "nhà bị lũ cuốn có được hỗ trợ không", "xin tiền hỗ trợ thiệt hại do lũ",
            "tro cap lu lut", "bị ngập lụt thì xã hỗ trợ gì"]
    page.fill("#questions", "\n".join([FLOOD, *more]))
    shot(page, "17-cau-tra-loi-moi")
    page.get_by_role("button", name="Lưu bản nháp").click()
    page.wait_for_url(re.compile(r".*/admin/ban-nhap/\d+$"))
    assert "tro-cap-lu-lut" in page.inner_text("main")

    _switch(page, live_server, "lan")
    _publish_waiting_draft(page, "18")
    reply = _ask(live_server, fake_zalo, "citizen-l3", FLOOD)
    assert "báo trưởng thôn" in reply
    answered = _last_inbound(live_server, FLOOD)
    assert (answered.outcome, answered.intent) == ("answered", "tro-cap-lu-lut")
    assert page.dialogs == []
