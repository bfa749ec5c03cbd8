"""Replying to a cluster per person (each asker's own question), and undoing "Bỏ qua"."""
from __future__ import annotations

from sqlalchemy import select

from tests.test_admin_support import (add_citizen, add_question, admin_app, admin_client, admin_settings,  # noqa: F401
                                      catalog_copy, post, reviewer, users)
from tests.test_admin_unanswered import CAT, _clusters, _engine
from webhooks.storage.models import AuditLog, ClusterMark
from webhooks.workers import run_until_idle

OTHER = "con mèo nhà tôi bị lạc mất rồi hu hu"


def _two_askers(admin_app, db) -> tuple[int, int, str]:
    engine = _engine(admin_app)
    first, second = add_citizen(db, "z-a"), add_citizen(db, "z-b")
    add_question(db, engine, first, CAT)
    add_question(db, engine, second, OTHER)
    return first, second, _clusters(admin_app, db)[0].key


def _sent(fake_zalo) -> dict[str, str]:
    return {r.user_id: r.body["message"]["text"] for r in fake_zalo.delivered()}


def test_each_asker_is_shown_with_their_own_question(reviewer, admin_app, db):
    first, second, key = _two_askers(admin_app, db)
    page = reviewer.get(f"/admin/cau-hoi/nhom?key={key}").get_data(as_text=True)
    assert page.count('class="asker"') == 2 and CAT in page and OTHER in page
    assert f'name="rieng-{first}"' in page and f'name="rieng-{second}"' in page


def test_one_text_for_all_and_one_edited(reviewer, admin_app, db, fake_zalo):
    first, second, key = _two_askers(admin_app, db)
    response = post(reviewer, "/admin/cau-hoi/tra-loi", {"key": key, "text": "Bạn báo công an xã nhé.",
                                                          f"rieng-{second}": "Mèo của bạn đã được tìm thấy ở nhà văn hoá."})
    assert response.status_code == 302
    run_until_idle(admin_app.extensions["bot.services"])
    assert _sent(fake_zalo) == {"z-a": "Bạn báo công an xã nhé.", "z-b": "Mèo của bạn đã được tìm thấy ở nhà văn hoá."}
    with db.session() as s:
        detail = s.scalars(select(AuditLog.detail).where(AuditLog.action == "cluster.reply")).one()
        assert (detail["sent"], detail["own"]) == (2, 1)


def test_only_own_texts_need_no_common_one(reviewer, admin_app, db, fake_zalo):
    first, second, key = _two_askers(admin_app, db)
    assert post(reviewer, "/admin/cau-hoi/tra-loi", {"key": key, "text": "", f"rieng-{first}": "Một",
                                                     f"rieng-{second}": "Hai"}).status_code == 302
    run_until_idle(admin_app.extensions["bot.services"])
    assert _sent(fake_zalo) == {"z-a": "Một", "z-b": "Hai"}


def test_a_person_left_without_text_stops_the_send_and_keeps_what_was_typed(reviewer, admin_app, db, fake_zalo):
    first, second, key = _two_askers(admin_app, db)
    response = post(reviewer, "/admin/cau-hoi/tra-loi", {"key": key, "text": "", f"rieng-{first}": "Chỉ một người"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "Vui lòng nhập nội dung trả lời." in page and "Chỉ một người" in page
    too_long = post(reviewer, "/admin/cau-hoi/tra-loi", {"key": key, "text": "ok", f"rieng-{second}": "a" * 2001})
    assert too_long.status_code == 400 and "tối đa 2.000 ký tự" in too_long.get_data(as_text=True)
    run_until_idle(admin_app.extensions["bot.services"])
    assert fake_zalo.delivered() == []


def test_undo_ignore_brings_the_cluster_back(reviewer, admin_app, db):
    _first, _second, key = _two_askers(admin_app, db)
    assert post(reviewer, "/admin/cau-hoi/danh-dau", {"key": key, "status": "ignored"}).status_code == 302
    assert _clusters(admin_app, db) == []
    page = reviewer.get("/admin/cau-hoi").get_data(as_text=True)
    assert "Vừa bỏ qua" in page and "Hoàn tác" in page
    with db.session() as s:
        mark_id = s.scalars(select(ClusterMark.id)).first()
    assert post(reviewer, "/admin/cau-hoi/hoan-tac-bo-qua", {"mark_id": str(mark_id)}).status_code == 302
    assert [c.count for c in _clusters(admin_app, db)] == [2]
    with db.session() as s:
        assert s.scalars(select(ClusterMark)).all() == []
        assert s.scalars(select(AuditLog.action).where(AuditLog.action == "cluster.unignore")).one()
    assert "Vừa bỏ qua" not in reviewer.get("/admin/cau-hoi").get_data(as_text=True)
    again = post(reviewer, "/admin/cau-hoi/hoan-tac-bo-qua", {"mark_id": str(mark_id)})
    assert again.status_code == 400  # undone already: said plainly, nothing else changes
    assert post(reviewer, "/admin/cau-hoi/hoan-tac-bo-qua", {"mark_id": "abc"}).status_code == 400


def test_undo_does_not_touch_resolved_marks(reviewer, admin_app, db):
    _first, _second, key = _two_askers(admin_app, db)
    post(reviewer, "/admin/cau-hoi/danh-dau", {"key": key, "status": "resolved"})
    with db.session() as s:
        mark_id = s.scalars(select(ClusterMark.id)).first()
    assert post(reviewer, "/admin/cau-hoi/hoan-tac-bo-qua", {"mark_id": str(mark_id)}).status_code == 400
    assert _clusters(admin_app, db) == []
