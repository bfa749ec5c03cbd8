"""Every dashboard route's error path: bad input, unknown ids and a catalog broken by hand never answer 500."""
from __future__ import annotations

import pytest

from tests.test_admin_support import (add_citizen, add_question, admin, admin_app, admin_client,  # noqa: F401
                                      admin_settings, catalog_copy, post, users)
from webhooks.admin import engine_holder

PAGES = ["/admin/", "/admin/thong-ke", "/admin/thong-ke?days=abc", "/admin/xuat-csv?start=31/02/2026",
         "/admin/danh-muc", "/admin/danh-muc?q=" + "x" * 500, "/admin/danh-muc/khong-co", "/admin/danh-muc/khai-sinh",
         "/admin/thu-bot", "/admin/gap-can-bo", "/admin/gap-can-bo/999999", "/admin/tin-gui-loi",
         "/admin/tin-gui-loi?page=-3", "/admin/cau-hoi", "/admin/cau-hoi?page=abc&days=-1",
         "/admin/cau-hoi/nhom?key=khong+co", "/admin/tai-khoan"]
# (url, form): missing fields, unknown ids, wrong choices.
FORMS = [("/admin/danh-muc/khai-sinh", {}), ("/admin/danh-muc/khong-co", {"text": "a"}),
         ("/admin/danh-muc/khai-sinh", {"text": "đăng ký khai sinh"}),  # already there
         ("/admin/danh-muc/khai-sinh/xoa-cau", {}), ("/admin/danh-muc/khai-sinh/xoa-cau", {"phrasing": "không có câu này"}),
         ("/admin/danh-muc/khai-sinh/khoi-phuc-cau", {"phrasing": "đăng ký khai sinh"}),
         ("/admin/danh-muc/khong-co/xoa-cau", {"phrasing": "x"}),
         ("/admin/thu-bot", {}), ("/admin/thu-bot", {"text": "x" * 5000}), ("/admin/thu-bot/lam-lai", {}),
         ("/admin/gap-can-bo/999999/tra-loi", {"text": "chào"}), ("/admin/gap-can-bo/999999/dong", {}),
         ("/admin/tin-gui-loi/999999/gui-lai", {}),
         ("/admin/cau-hoi/day-bot", {"key": "khong co"}), ("/admin/cau-hoi/tra-loi", {"key": "khong co", "text": "a"}),
         ("/admin/cau-hoi/danh-dau", {"key": "khong co", "status": "ignored"}),
         ("/admin/tai-khoan", {"username": "A B", "password": "ngan", "role": "vua"}),
         ("/admin/tai-khoan/khong-ai", {"action": "disable", "confirm": "y"}),
         ("/admin/tai-khoan/lan", {"action": "role", "role": "reviewer", "confirm": "y"}),  # not oneself
         ("/admin/tai-khoan/hoa", {"action": "passwd", "confirm": "y"})]


def _broken(admin_settings) -> None:
    path = admin_settings.engine.catalog_path
    path.write_text(path.read_text(encoding="utf-8") + "\n  - id: [broken\n", encoding="utf-8")


@pytest.mark.timeout(600)  # every page and form, each a full request with its catalog checks
@pytest.mark.parametrize("broken", [False, True], ids=["catalog-ok", "catalog-broken"])
def test_no_route_answers_500(admin, admin_app, admin_settings, db, broken):
    with admin_app.app_context():
        engine = engine_holder().get()
    add_question(db, engine, add_citizen(db, "z-err"), "đứa nhỏ mới đẻ thì ra xã lấy cái giấy gì trước tiên")
    if broken:
        _broken(admin_settings)
    for url in PAGES:
        status = admin.get(url).status_code
        assert status in (200, 302, 400, 404), (url, status)
    for url, form in FORMS:
        response = post(admin, url, form)
        assert response.status_code in (302, 400, 403, 404), (url, response.status_code)
        if response.status_code == 302:  # a refusal told on the next page, never silence
            follow = admin.get(response.headers["Location"])
            assert follow.status_code == 200, url
