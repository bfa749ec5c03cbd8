"""A member's own alert settings, the Zalo link code, and the waiting count the menu polls."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.test_admin_support import (admin, admin_app, admin_client, admin_settings, catalog_copy, login,  # noqa: F401
                                      post, reviewer, users)
from webhooks.storage.models import StaffContact, User


def _contact(db, username: str) -> StaffContact | None:
    with db.session() as s:
        user_id = s.scalar(select(User.id).where(User.username == username))
        contact = s.get(StaffContact, user_id)
        s.expunge_all()
        return contact


def test_defaults_then_saved_choices(reviewer, db):
    page = reviewer.get("/admin/thong-bao").get_data(as_text=True)
    assert page.count('type="checkbox"') == 5 and page.count("checked") == 5  # everything, both ways, by default
    response = post(reviewer, "/admin/thong-bao", {"email": "hoa@xa.example", "kinds": ["emergency"],
                                                   "by_email": "y"}, token_from="/admin/thong-bao")
    assert response.status_code == 302
    contact = _contact(db, "hoa")
    assert (contact.email, contact.kinds, contact.by_email, contact.by_zalo) == (
        "hoa@xa.example", ["emergency"], True, False)
    assert _contact(db, "lan") is None  # nobody else's settings changed


@pytest.mark.parametrize("data, message", [({"email": "không phải email"}, "Địa chỉ e-mail không hợp lệ."),
                                           ({"kinds": ["weather"]}, "không thuộc")])
def test_bad_settings_are_refused_plainly(reviewer, db, data, message):
    response = post(reviewer, "/admin/thong-bao", data, token_from="/admin/thong-bao")
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert _contact(db, "hoa").email is None


def test_link_code_is_shown_once_and_unlink(reviewer, db):
    page = post(reviewer, "/admin/thong-bao/ma-lien-ket", {}, token_from="/admin/thong-bao").get_data(as_text=True)
    code = re.search(r'id="link-code">(CB-\d{6})<', page).group(1)
    assert _contact(db, "hoa").link_code == code
    assert code not in reviewer.get("/admin/thong-bao").get_data(as_text=True)  # not left on the page
    with db.session() as s:
        s.get(StaffContact, _contact(db, "hoa").user_id).zalo_id = "z-hoa"
    assert "Đã liên kết" in reviewer.get("/admin/thong-bao").get_data(as_text=True)
    post(reviewer, "/admin/thong-bao/huy-lien-ket", {}, token_from="/admin/thong-bao")
    assert _contact(db, "hoa").zalo_id is None


def test_each_member_sees_only_their_own_settings(admin, admin_app, users, db):
    post(admin, "/admin/thong-bao", {"email": "lan-rieng@xa.example", "by_email": "y"}, token_from="/admin/thong-bao")
    hoa = admin_app.test_client()
    login(hoa, "hoa")
    assert "lan-rieng@xa.example" not in hoa.get("/admin/thong-bao").get_data(as_text=True)
    assert _contact(db, "lan").email == "lan-rieng@xa.example"
