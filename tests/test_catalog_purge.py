"""Queued purges of withdrawn citizens' phrasings: retried while the catalog is broken, done once when it loads."""
from __future__ import annotations

from sqlalchemy import func, select

from tests.test_admin_support import admin_app, admin_settings, catalog_copy  # noqa: F401
from bot.catalog import load_catalog
from bot.catalog_edit import add_phrasings, history_dir_for, remove_phrasings
from webhooks.catalog_purge import purge_pending
from webhooks.storage.models import AuditLog, CatalogPurge

PHRASING = "số tôi *******321 hỏi làm giấy khai sinh cho cháu ở đâu"


def _queue(db) -> None:
    with db.session() as s:
        s.add(CatalogPurge(entry_id="khai-sinh", phrasing=PHRASING))


def _purges(db) -> list[CatalogPurge]:
    with db.session() as s:
        return list(s.scalars(select(CatalogPurge)))


def test_a_broken_catalog_keeps_the_purge_until_it_loads(admin_app, catalog_copy, db):
    catalog, intents = catalog_copy
    add_phrasings(catalog, intents, "khai-sinh", [PHRASING])
    _queue(db)
    good = catalog.read_text(encoding="utf-8")
    catalog.write_text(good + "\n  - id: [broken\n", encoding="utf-8")
    services = admin_app.extensions["bot.services"]
    assert purge_pending(services) == 0
    assert purge_pending(services) == 0
    (row,) = _purges(db)
    assert row.attempts == 2 and "procedures.yaml:" in row.last_error
    catalog.write_text(good, encoding="utf-8")  # an admin fixes the file
    assert purge_pending(services) == 1
    assert _purges(db) == []
    assert PHRASING not in load_catalog(catalog, intents).entries["khai-sinh"].questions
    assert not any(PHRASING in p.read_text(encoding="utf-8") for p in history_dir_for(catalog).glob("*.yaml"))


def test_a_crash_after_the_file_edit_repeats_only_the_bookkeeping(admin_app, catalog_copy, db):
    catalog, intents = catalog_copy
    add_phrasings(catalog, intents, "khai-sinh", [PHRASING])
    _queue(db)
    remove_phrasings(catalog, intents, "khai-sinh", [PHRASING])  # the file step done, then the process died
    assert purge_pending(admin_app.extensions["bot.services"]) == 1
    assert _purges(db) == []
    assert not any(PHRASING in p.read_text(encoding="utf-8") for p in history_dir_for(catalog).glob("*.yaml"))
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "catalog.purge")) == 1


def test_admins_see_a_purge_that_keeps_failing(admin_app, catalog_copy, db):
    from tests.test_admin_support import PASSWORD, login
    from webhooks.admin.accounts import create_user

    with db.session() as s:
        create_user(s, "lan", PASSWORD, "admin", by="test")
        s.add(CatalogPurge(entry_id="khai-sinh", phrasing=PHRASING, attempts=3,
                           last_error="Danh mục sau khi sửa không hợp lệ"))
    client = admin_app.test_client()
    login(client, "lan")
    html = client.get("/admin/danh-muc").get_data(as_text=True)
    assert "Chưa xoá được một câu" in html and "Danh mục sau khi sửa không hợp lệ" in html
    assert PHRASING not in html  # the phrasing itself is not shown again
