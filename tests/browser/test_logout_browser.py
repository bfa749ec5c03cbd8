"""In Chromium: log out, then replay the old session cookie from a second browser: refused."""
from __future__ import annotations

import re

from tests.browser.conftest import LiveServer, live_server, page, shot  # noqa: F401
from tests.browser.test_dashboard_browser import _login


def test_a_replayed_cookie_is_refused_after_logout(live_server: LiveServer, page):
    _login(page, live_server, "hoa")
    cookie = next(c for c in page.context.cookies() if c["name"] == "session")
    second = page.context.browser.new_context()
    try:
        copy = second.new_page()
        second.add_cookies([{k: cookie[k] for k in ("name", "value", "domain", "path")}])
        copy.goto(f"{live_server.url}/admin/cau-hoi")
        assert "/admin/cau-hoi" in copy.url  # the copy works while the session lives
        page.get_by_role("button", name="Đăng xuất").click()
        page.wait_for_url(re.compile(r".*/admin/login.*"))
        shot(page, "01-da-dang-xuat")
        copy.goto(f"{live_server.url}/admin/cau-hoi")
        assert "/admin/login" in copy.url  # refused: sent to the login page
        second.add_cookies([{k: cookie[k] for k in ("name", "value", "domain", "path")}])  # replayed again
        copy.goto(f"{live_server.url}/admin/thong-ke")
        assert "/admin/login" in copy.url
    finally:
        second.close()
