"""A catalog broken by hand: dashboard edits answer with the error and its line, never a 500; files stay private."""
from __future__ import annotations

import stat

from tests.test_admin_support import (add_citizen, add_question, admin, admin_app, admin_client,  # noqa: F401
                                      admin_settings, catalog_copy, post, users)
from bot.catalog_edit import add_phrasings, history_dir_for
from webhooks.admin import engine_holder
from webhooks.admin.clusters import build_clusters

QUESTION = "đứa nhỏ mới đẻ thì ra xã lấy cái giấy gì trước tiên"


def _break(path):
    path.write_text(path.read_text(encoding="utf-8") + "\n  - id: [broken\n", encoding="utf-8")


def test_edits_on_a_broken_catalog_say_where(admin, admin_app, admin_settings, db):
    with admin_app.app_context():
        engine = engine_holder().get()
    add_question(db, engine, add_citizen(db, "z-broken"), QUESTION)
    with db.session() as s:
        key = build_clusters(s, admin_settings.engine.thresholds)[0].key
    catalog = admin_settings.engine.catalog_path
    _break(catalog)
    broken = catalog.read_bytes()
    for url, data in (("/admin/danh-muc/khai-sinh", {"text": "giấy khai sinh làm ở đâu vậy"}),
                      ("/admin/cau-hoi/day-bot", {"key": key, "entry_id": "khai-sinh", "phrasings": [QUESTION]}),
                      ("/admin/danh-muc/khai-sinh/xoa-cau", {"phrasing": "đăng ký khai sinh"})):
        response = post(admin, url, data, follow_redirects=True)
        html = response.get_data(as_text=True)
        assert response.status_code in (200, 400), url
        assert "procedures.yaml:" in html and "không" in html.lower(), url
        assert catalog.read_bytes() == broken  # nothing written


def test_history_copies_and_edited_files_are_private(catalog_copy):
    catalog, intents = catalog_copy
    add_phrasings(catalog, intents, "khai-sinh", ["làm giấy khai sinh cho cháu nội ở đâu ạ"])
    copies = list(history_dir_for(catalog).glob("*.yaml"))
    assert copies
    for path in [catalog, *copies]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
