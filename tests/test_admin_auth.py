"""Dashboard access: login, roles, CSRF, rate limit, cookies, session invalidation, audit."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from sqlalchemy import select

from tests.test_admin_support import engine_holder
from tests.test_admin_support import (PASSWORD, admin, admin_app, admin_client, admin_settings,  # noqa: F401
                                      catalog_copy, csrf_token, login, post, reviewer, send_webhook, users)
from webhooks import create_app
from sqlalchemy import delete

from webhooks.admin.accounts import set_active, set_password, set_role
from webhooks.storage.models import AuditLog, LoginFailure

EVERY_PAGE = ["/admin/", "/admin/cau-hoi", "/admin/cau-hoi/nhom?key=x", "/admin/gap-can-bo", "/admin/gap-can-bo/1",
              "/admin/thong-ke", "/admin/thu-bot", "/admin/danh-muc", "/admin/danh-muc/khai-sinh",
              "/admin/tai-khoan", "/admin/xuat-csv", "/admin/thong-bao", "/admin/mau-tra-loi", "/admin/gap-can-bo/dem"]
EVERY_POST = ["/admin/logout", "/admin/cau-hoi/day-bot", "/admin/cau-hoi/tra-loi", "/admin/cau-hoi/danh-dau",
              "/admin/gap-can-bo/1/tra-loi", "/admin/gap-can-bo/1/dong", "/admin/thu-bot", "/admin/thu-bot/lam-lai",
              "/admin/danh-muc/khai-sinh", "/admin/tai-khoan", "/admin/tai-khoan/hoa",
              "/admin/gap-can-bo/1/giao", "/admin/gap-can-bo/1/trang-thai", "/admin/gap-can-bo/1/ghi-chu",
              "/admin/gap-can-bo/1/mau", "/admin/gap-can-bo/1/xin-so", "/admin/cau-hoi/hoan-tac-bo-qua",
              "/admin/thong-bao", "/admin/thong-bao/ma-lien-ket", "/admin/thong-bao/huy-lien-ket",
              "/admin/mau-tra-loi", "/admin/mau-tra-loi/1/xoa"]
ADMIN_ONLY = ["/admin/danh-muc", "/admin/danh-muc/khai-sinh", "/admin/tai-khoan", "/admin/xuat-csv",
              "/admin/mau-tra-loi"]


@pytest.mark.parametrize("url", EVERY_PAGE)
def test_logged_out_visitor_is_sent_to_login(admin_client, url):
    response = admin_client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login")


@pytest.mark.parametrize("url", EVERY_POST)
def test_logged_out_post_is_refused(admin_client, users, url):
    token = csrf_token(admin_client.get("/admin/login").get_data(as_text=True))
    response = admin_client.post(url, data={"csrf_token": token})
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_login_page_is_vietnamese_and_phone_ready(admin_client):
    html = admin_client.get("/admin/login").get_data(as_text=True)
    assert 'name="viewport"' in html and 'lang="vi"' in html
    assert "Tên đăng nhập" in html and "Mật khẩu" in html


def test_login_success_wrong_password_and_unknown_user(admin_client, users, db):
    wrong = login(admin_client, "hoa", "sai-mat-khau-roi")
    assert wrong.status_code == 400
    assert "Sai tên đăng nhập hoặc mật khẩu" in wrong.get_data(as_text=True)
    assert login(admin_client, "khong-ai", PASSWORD).status_code == 400
    ok = login(admin_client, "hoa")
    assert ok.status_code == 302 and ok.headers["Location"] == "/admin/cau-hoi"
    assert admin_client.get("/admin/cau-hoi").status_code == 200
    with db.session() as s:
        assert s.scalars(select(AuditLog.action).where(AuditLog.username == "hoa")).all() == ["login"]


def test_empty_login_form_shows_errors(admin_client):
    token = csrf_token(admin_client.get("/admin/login").get_data(as_text=True))
    response = admin_client.post("/admin/login", data={"csrf_token": token})
    assert response.status_code == 400
    assert "Vui lòng điền mục này." in response.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(admin_client, users):
    response = admin_client.post("/admin/login", data={"username": "hoa", "password": PASSWORD})
    assert response.status_code == 400
    assert admin_client.get("/admin/cau-hoi").status_code == 302


def test_post_without_csrf_token_is_refused_when_logged_in(reviewer):
    response = reviewer.post("/admin/thu-bot", data={"text": "xin chào"})
    assert response.status_code == 400
    assert "hết hạn" in response.get_data(as_text=True)


def test_webhook_is_not_subject_to_csrf(admin_app, admin_client, admin_settings):
    assert send_webhook(admin_client, admin_settings, "citizen-csrf", "xin chào").status_code == 200


def test_next_parameter_cannot_redirect_elsewhere(admin_client, users):
    token = csrf_token(admin_client.get("/admin/login").get_data(as_text=True))
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = admin_client.post(f"/admin/login?next={target}",
                                     data={"username": "hoa", "password": PASSWORD, "csrf_token": token})
        assert response.headers["Location"] == "/admin/cau-hoi"
        admin_client.post("/admin/logout", data={"csrf_token": csrf_token(
            admin_client.get("/admin/cau-hoi").get_data(as_text=True))})
        token = csrf_token(admin_client.get("/admin/login").get_data(as_text=True))
    response = admin_client.post("/admin/login?next=/admin/thong-ke",
                                 data={"username": "hoa", "password": PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/admin/thong-ke"


def test_login_attempts_are_rate_limited(admin_client, users):
    token = csrf_token(admin_client.get("/admin/login").get_data(as_text=True))
    codes = [admin_client.post("/admin/login", data={"username": "hoa", "password": "sai-sai-sai-sai",
                                                      "csrf_token": token}).status_code for _ in range(6)]
    assert codes[:5] == [400] * 5
    assert codes[5] == 429
    assert admin_client.get("/admin/login").status_code == 200  # only attempts are limited


def _fail(client, username: str, times: int, **kwargs) -> list[int]:
    token = csrf_token(client.get("/admin/login").get_data(as_text=True))
    return [client.post("/admin/login", data={"username": username, "password": "sai-sai-sai-sai",
                                               "csrf_token": token}, **kwargs).status_code for _ in range(times)]


def _second_process(admin_settings, db):
    """Another app on the same database, as a second server process would be."""
    return create_app({"SETTINGS": admin_settings, "DATABASE": db, "ENGINES": engine_holder(admin_settings.engine),
                       "TESTING": True}).test_client()


def test_login_failures_are_counted_for_every_process(admin_client, admin_settings, db, users):
    other = _second_process(admin_settings, db)
    assert _fail(admin_client, "hoa", 3) == [400] * 3
    assert _fail(other, "hoa", 2) == [400] * 2
    assert _fail(admin_client, "hoa", 1) == [429]  # five failures in all, wherever they were counted
    assert login(other, "hoa").status_code == 429  # even the right password waits out the lock-out


def test_a_locked_account_or_address_does_not_lock_out_staff_on_their_own_browser(admin_client, admin_settings,
                                                                                   db, users):
    staff = _second_process(admin_settings, db)  # the admin's usual browser, same office address
    assert login(staff, "lan").status_code == 302
    post(staff, "/admin/logout", {}, token_from="/admin/cau-hoi")
    # Someone at the same address guesses at both accounts and at many others.
    assert _fail(admin_client, "lan", 6)[-1] == 429
    for n in range(4):
        _fail(admin_client, f"khong-co-{n}", 4)
    assert login(admin_client, "hoa").status_code == 429  # this address is locked for unknown browsers
    assert login(staff, "lan").status_code == 302  # but not for the admin's own browser
    # The other staff member on the same network, on their own browser, is not caught either.
    hoa = _second_process(admin_settings, db)
    with db.session() as s:
        s.execute(delete(LoginFailure).where(LoginFailure.key == "address:127.0.0.1"))
    assert login(hoa, "hoa").status_code == 302
    post(hoa, "/admin/logout", {}, token_from="/admin/cau-hoi")
    for n in range(5):
        _fail(admin_client, f"khac-{n}", 4)
    assert login(hoa, "hoa").status_code == 302


@pytest.mark.parametrize("url", ADMIN_ONLY)
def test_reviewer_cannot_reach_admin_pages(reviewer, url):
    response = reviewer.get(url)
    assert response.status_code == 403
    assert "Không có quyền" in response.get_data(as_text=True)


@pytest.mark.parametrize("url", ADMIN_ONLY)
def test_admin_reaches_admin_pages(admin, url):
    assert admin.get(url).status_code == 200


def test_reviewer_menu_hides_admin_pages(reviewer, admin_client):
    html = reviewer.get("/admin/cau-hoi").get_data(as_text=True)
    assert "Câu hỏi chưa trả lời" in html and "Gặp cán bộ" in html and "Thống kê" in html
    assert "/admin/danh-muc" not in html and "/admin/tai-khoan" not in html


def test_session_cookie_flags_and_lifetime(admin_app, admin_client, users):
    response = login(admin_client, "hoa")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Expires=" in cookie  # a permanent session: the lifetime below applies
    assert admin_app.config["PERMANENT_SESSION_LIFETIME"] == dt.timedelta(hours=8)
    assert admin_app.config["SESSION_REFRESH_EACH_REQUEST"] is True


def test_cookie_is_secure_outside_tests_and_demo(admin_settings, db):
    app = create_app({"SETTINGS": replace(admin_settings, demo=False), "DATABASE": db,
                      "ENGINES": engine_holder(admin_settings.engine)})
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_disabling_or_new_password_ends_sessions(reviewer, db):
    assert reviewer.get("/admin/cau-hoi").status_code == 200
    with db.session() as s:
        set_password(s, "hoa", "mot-mat-khau-moi-hoan-toan", by="lan")
    assert reviewer.get("/admin/cau-hoi").status_code == 302
    login(reviewer, "hoa", "mot-mat-khau-moi-hoan-toan")
    assert reviewer.get("/admin/cau-hoi").status_code == 200
    with db.session() as s:
        set_active(s, "hoa", False, by="lan")
    assert reviewer.get("/admin/cau-hoi").status_code == 302
    assert login(reviewer, "hoa", "mot-mat-khau-moi-hoan-toan").status_code == 400


def test_logout(reviewer):
    response = post(reviewer, "/admin/logout", {}, token_from="/admin/cau-hoi")
    assert response.status_code == 302
    assert reviewer.get("/admin/cau-hoi").status_code == 302


def _copy(client, admin_settings, db):
    """A second browser holding a copy of `client`'s session cookie."""
    thief = _second_process(admin_settings, db)
    thief.set_cookie("session", client.get_cookie("session").value, path="/")
    return thief


def test_a_copied_cookie_is_refused_after_logout(reviewer, admin_settings, db):
    thief = _copy(reviewer, admin_settings, db)
    assert thief.get("/admin/cau-hoi").status_code == 200
    post(reviewer, "/admin/logout", {}, token_from="/admin/cau-hoi")
    assert thief.get("/admin/cau-hoi").status_code == 302


@pytest.mark.parametrize("change", [
    lambda s: set_password(s, "hoa", "mot-mat-khau-moi-hoan-toan", by="lan"),
    lambda s: set_role(s, "hoa", "admin", by="lan"),
    lambda s: (set_active(s, "hoa", False, by="lan"), set_active(s, "hoa", True, by="lan")),
], ids=["password", "role", "disable-enable"])
def test_account_changes_end_every_session(reviewer, admin_settings, db, change):
    thief = _copy(reviewer, admin_settings, db)
    with db.session() as s:
        change(s)
    assert reviewer.get("/admin/cau-hoi").status_code == 302
    assert thief.get("/admin/cau-hoi").status_code == 302  # re-enabling does not revive old sessions


def test_security_headers_on_admin_pages(reviewer):
    response = reviewer.get("/admin/cau-hoi")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
