"""Taught phrasings of withdrawn citizens taken out of the catalog files and their history copies.

The withdrawal's transaction queues each as a `catalog_purges` row; this runs from the claim loop's poller
(every minute, and at start) until every row is done. A crash between the file edit and the row's deletion
repeats the edit, which finds the phrasing gone and only deletes the row: nothing is lost, nothing left.
"""
from __future__ import annotations

import logging

from sqlalchemy import delete, insert, select, update

from bot.catalog_edit import CatalogEditError, purge_phrasing
from webhooks.services import Services
from webhooks.storage.models import AuditLog, CatalogPurge, utcnow

log = logging.getLogger(__name__)
SYSTEM = "hệ thống"  # the audit log's name for changes nobody on staff made
BATCH = 50


def purge_pending(services: Services) -> int:
    """Carry out queued purges; how many were done (the rest stay, with their error, for the next look)."""
    database, conf = services.database, services.settings.engine
    with database.session() as session:
        pending = session.execute(select(CatalogPurge.id, CatalogPurge.entry_id, CatalogPurge.phrasing)
                                  .order_by(CatalogPurge.id).limit(BATCH)).all()
    done = 0
    for row in pending:
        try:
            purge_phrasing(conf.catalog_path, conf.intents_dir, row.entry_id, row.phrasing)
        except (CatalogEditError, OSError) as exc:
            problems = getattr(exc, "problems", [])
            error = " ".join([str(exc), *problems[:3]])[:1000]
            log.warning("catalog purge %s: not yet done (%s)", row.id, type(exc).__name__)
            with database.transaction() as conn:
                conn.execute(update(CatalogPurge).where(CatalogPurge.id == row.id)
                             .values(attempts=CatalogPurge.attempts + 1, last_error=error))
            continue
        with database.transaction() as conn:
            # Only the process that deletes the row writes the audit entry (another may have raced it).
            if conn.execute(delete(CatalogPurge).where(CatalogPurge.id == row.id)).rowcount:
                conn.execute(insert(AuditLog).values(username=SYSTEM, action="catalog.purge", at=utcnow(),
                                                     detail={"entry": row.entry_id, "reason": "user_withdraw"}))
                done += 1
    if done:
        log.info("catalog purge: %d phrasing(s) of withdrawn citizens removed", done)
        database.flush_deleted()  # the purge rows held the phrasings: out of SQLite's write-ahead log too
    return done

