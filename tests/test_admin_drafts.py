"""Catalog drafts in the dashboard: who may draft, publish, refuse and roll back; the bot follows each step."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.catalog import load_catalog
from tests.test_admin_support import (admin, admin_app, admin_client, admin_settings, catalog_copy,  # noqa: F401
                                      csrf_token, login, post, reviewer, users)
from webhooks.storage.models import AuditLog, CatalogDraft, CatalogVersion

NEW_FEE = "Lệ phí 5.000đ một lần (thử nghiệm)"


def _form(client, url: str) -> dict[str, str]:
    """The fields of the edit form as the page shows them (so a POST changes only what a test sets)."""
    import re
    html = client.get(url).get_data(as_text=True)
    data = {m.group(1): m.group(2) for m in re.finditer(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', html)}
    for name, body in re.findall(r'<textarea[^>]*name="(\w+)"[^>]*>\n?(.*?)</textarea>', html, re.S):
        data[name] = body
    for name in re.findall(r'<select[^>]*name="(\w+)"', html):
        picked = re.search(rf'<select[^>]*name="{name}".*?<option selected value="([^"]*)"', html, re.S)
        data[name] = picked.group(1) if picked else ""
    return {k: _unescape(v) for k, v in data.items()}


def _unescape(text: str) -> str:
    import html
    return html.unescape(text)


def _draft_fee(client, fee: str = NEW_FEE):
    data = _form(client, "/admin/ban-nhap/sua/khai-sinh")
    data["fee"] = fee
    return client.post("/admin/ban-nhap/sua/khai-sinh", data=data)


def _fee(admin_settings) -> str:
    return load_catalog(admin_settings.engine.catalog_path, admin_settings.engine.intents_dir).entries["khai-sinh"].fee


def _publish(client, draft_id: int):
    return post(client, f"/admin/ban-nhap/{draft_id}/xuat-ban", {}, token_from=f"/admin/ban-nhap/{draft_id}")


def test_reviewer_drafts_admin_publishes_and_rolls_back(reviewer, admin_app, admin_settings, db):
    old_fee = _fee(admin_settings)
    response = _draft_fee(reviewer)
    assert response.status_code == 302, response.get_data(as_text=True)
    with db.session() as s:
        draft = s.scalars(select(CatalogDraft)).one()
        assert (draft.action, draft.fields, draft.created_by, draft.status) == ("edit", {"fee": NEW_FEE}, "hoa",
                                                                                 "draft")
        draft_id = draft.id
    assert _fee(admin_settings) == old_fee  # a draft changes nothing yet
    page = reviewer.get(f"/admin/ban-nhap/{draft_id}").get_data(as_text=True)
    assert NEW_FEE in page and "Xuất bản" not in page  # the diff, but no publish button for a reviewer
    assert _publish(reviewer, draft_id).status_code == 403
    assert post(reviewer, f"/admin/ban-nhap/{draft_id}/tu-choi", {}, token_from="/admin/ban-nhap").status_code == 403
    assert reviewer.get("/admin/lich-su-danh-muc").status_code == 403
    assert post(reviewer, "/admin/lich-su-danh-muc/1/khoi-phuc", {}, token_from="/admin/ban-nhap").status_code == 403

    post(reviewer, "/admin/logout", {}, token_from="/admin/ban-nhap")
    login(reviewer, "lan")
    assert _publish(reviewer, draft_id).status_code == 302
    assert _fee(admin_settings) == NEW_FEE
    engine = admin_app.extensions["bot.services"].engines.get()
    assert engine.catalog.entries["khai-sinh"].fee == NEW_FEE  # reloaded at once
    with db.session() as s:
        version = s.scalars(select(CatalogVersion)).one()
        assert (version.action, version.entry_id, version.by, version.draft_id) == ("edit", "khai-sinh", "lan",
                                                                                    draft_id)
        assert s.get(CatalogDraft, draft_id).status == "published"
        version_id = version.id
    assert _publish(reviewer, draft_id).status_code == 302  # twice: refused, nothing written again
    with db.session() as s:
        assert len(s.scalars(select(CatalogVersion)).all()) == 1

    history = reviewer.get("/admin/lich-su-danh-muc").get_data(as_text=True)
    assert f"#{version_id}" in history and NEW_FEE in history
    assert post(reviewer, f"/admin/lich-su-danh-muc/{version_id}/khoi-phuc", {},
                token_from="/admin/lich-su-danh-muc").status_code == 302
    assert _fee(admin_settings) == old_fee
    assert admin_app.extensions["bot.services"].engines.get().catalog.entries["khai-sinh"].fee == old_fee
    with db.session() as s:
        rollback = s.scalars(select(CatalogVersion).where(CatalogVersion.action == "rollback")).one()
        assert rollback.restores_id == version_id
        actions = [a.action for a in s.scalars(select(AuditLog).where(AuditLog.action.like("catalog.%")))]
        assert actions == ["catalog.draft", "catalog.publish", "catalog.rollback"]


@pytest.mark.parametrize("fee, field_error", [
    ("", "Mục này không được để trống."),
    ("   ", "Mục này không được để trống."),
])
def test_a_bad_fee_is_refused_in_the_form_and_nothing_is_saved(reviewer, admin_settings, db, fee, field_error):
    before = admin_settings.engine.catalog_path.read_bytes()
    response = _draft_fee(reviewer, fee)
    assert response.status_code == 400
    assert field_error in response.get_data(as_text=True)
    with db.session() as s:
        assert s.scalars(select(CatalogDraft)).all() == []
    assert admin_settings.engine.catalog_path.read_bytes() == before


def test_form_checks_the_link_the_phrasings_and_that_something_changed(reviewer, db):
    data = _form(reviewer, "/admin/ban-nhap/sua/khai-sinh")
    unchanged = reviewer.post("/admin/ban-nhap/sua/khai-sinh", data=data)
    assert "Chưa có thay đổi nào" in unchanged.get_data(as_text=True)
    bad = reviewer.post("/admin/ban-nhap/sua/khai-sinh", data={**data, "link": "dichvucong.gov.vn",
                                                              "questions": "một\nhai"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "https://" in html and "ít nhất 6 câu hỏi mẫu" in html
    with db.session() as s:
        assert s.scalars(select(CatalogDraft)).all() == []


def test_a_draft_overtaken_by_another_edit_is_not_published(reviewer, admin_settings, db):
    assert _draft_fee(reviewer, "Phí A").status_code == 302
    assert _draft_fee(reviewer, "Phí B").status_code == 302
    post(reviewer, "/admin/logout", {}, token_from="/admin/ban-nhap")
    login(reviewer, "lan")
    with db.session() as s:
        first, second = [d.id for d in s.scalars(select(CatalogDraft).order_by(CatalogDraft.id))]
    assert _publish(reviewer, second).status_code == 302
    page = reviewer.get(f"/admin/ban-nhap/{first}").get_data(as_text=True)
    assert "đã được sửa sau khi soạn" in page
    _publish(reviewer, first)
    assert _fee(admin_settings) == "Phí B"
    with db.session() as s:
        assert s.get(CatalogDraft, first).status == "draft"


def test_admin_refuses_a_draft(reviewer, db):
    assert _draft_fee(reviewer).status_code == 302
    post(reviewer, "/admin/logout", {}, token_from="/admin/ban-nhap")
    login(reviewer, "lan")
    with db.session() as s:
        draft_id = s.scalars(select(CatalogDraft)).one().id
    post(reviewer, f"/admin/ban-nhap/{draft_id}/tu-choi", {"reason": "Chưa có văn bản"},
         token_from=f"/admin/ban-nhap/{draft_id}")
    with db.session() as s:
        draft = s.get(CatalogDraft, draft_id)
        assert (draft.status, draft.reason, draft.decided_by) == ("rejected", "Chưa có văn bản", "lan")
    assert "Chưa có văn bản" in reviewer.get(f"/admin/ban-nhap/{draft_id}").get_data(as_text=True)


def test_new_entry_and_retire_are_drafts_too(reviewer, db):
    questions = "\n".join(f"trợ cấp lũ lụt nhận ở đâu {n}" for n in range(6))
    data = {"entry_id": "tro-cap-lu-lut", "title": "Trợ cấp lũ lụt", "summary": "Hỗ trợ hộ bị thiệt hại.",
            "answer": "Báo trưởng thôn.", "questions": questions}
    assert post(reviewer, "/admin/ban-nhap/moi?kind=faq", data, token_from="/admin/ban-nhap/moi").status_code == 302
    bad = post(reviewer, "/admin/ban-nhap/moi?kind=faq", {**data, "entry_id": "Trợ cấp"},
               token_from="/admin/ban-nhap/moi")
    assert bad.status_code == 400 and "chữ thường không dấu" in bad.get_data(as_text=True)
    taken = post(reviewer, "/admin/ban-nhap/moi?kind=faq", {**data, "entry_id": "khai-sinh"},
                 token_from="/admin/ban-nhap/moi")
    assert taken.status_code == 400 and "đã có trong danh mục" in taken.get_data(as_text=True)
    refused = post(reviewer, "/admin/ban-nhap/ngung/khai-sinh", {}, token_from="/admin/ban-nhap/sua/khai-sinh",
                   follow_redirects=True)
    assert "Không thể ngừng dùng" in refused.get_data(as_text=True)  # the menu still lists it
    with db.session() as s:
        drafts = s.scalars(select(CatalogDraft)).all()
        assert [(d.action, d.entry_id, d.fields["kind"]) for d in drafts] == [("add", "tro-cap-lu-lut", "faq")]


def test_logged_out_visitors_are_sent_to_login(admin_client):
    for url in ("/admin/ban-nhap", "/admin/ban-nhap/sua/khai-sinh", "/admin/ban-nhap/moi", "/admin/ban-nhap/1"):
        assert admin_client.get(url).status_code == 302
