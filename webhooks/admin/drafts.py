"""Catalog drafts and versions: save a proposed change, publish it (admins), refuse it, roll a version back."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.catalog_edit import CatalogEditError
from bot.catalog import Catalog
from bot.catalog_entries import Change, Preview, Written, apply, entry_values, preview, restore, values_of
from bot.settings import Settings as EngineSettings
from webhooks.admin.teaching import record_taught
from webhooks.storage.models import CatalogDraft, CatalogVersion, Message, utcnow

ACTION_LABELS = {"edit": "Sửa", "add": "Thêm mục mới", "retire": "Ngừng dùng", "rollback": "Khôi phục"}
STATUS_LABELS = {"draft": "Chờ duyệt", "published": "Đã xuất bản", "rejected": "Không duyệt"}


def change_of(draft: CatalogDraft) -> Change:
    """The bot-side change a draft asks for."""
    return Change(draft.action, draft.entry_id, dict(draft.fields or {}))


def check(conf: EngineSettings, change: Change, today: dt.date) -> Preview:
    """The change applied to a copy and checked like lint (CatalogEditError when it would not load)."""
    return preview(conf.catalog_path, conf.intents_dir, change, today)


def changed_fields(current: dict[str, Any], submitted: dict[str, Any]) -> dict[str, Any]:
    """Only the fields whose value differs from the entry's current one."""
    return {k: v for k, v in submitted.items() if current.get(k, [] if isinstance(v, list) else "") != v}


def save_draft(db: Session, change: Change, base: dict[str, Any], title: str, by: str,
               shown: Preview | None = None) -> CatalogDraft:
    """Store a proposed change (already checked: `shown`) for an admin to publish."""
    draft = CatalogDraft(entry_id=change.entry_id, action=change.action, fields=dict(change.fields), base=base,
                         title=title[:255], created_by=by, status="draft",
                         diff="\n".join(shown.diff()) if shown else "", warnings=list(shown.warnings) if shown else [])
    db.add(draft)
    db.flush()
    return draft


def conflicts(catalog: Catalog, draft: CatalogDraft) -> list[str]:
    """Fields changed in the running catalog since the draft was written (publishing would overwrite them)."""
    if draft.action != "edit":
        return []
    entry = catalog.entries.get(draft.entry_id)
    if entry is None:
        return ["id"]
    now = values_of(entry)
    return [name for name, value in (draft.base or {}).items() if now.get(name) != value]


def _record(db: Session, written: Written, entry_id: str, action: str, title: str, by: str,
            draft_id: int | None = None, restores_id: int | None = None) -> CatalogVersion:
    version = CatalogVersion(draft_id=draft_id, restores_id=restores_id, entry_id=entry_id, action=action,
                             file=written.path.name, backup=written.backup.name, sha=written.sha,
                             diff="\n".join(written.diff), title=title[:255], by=by)
    db.add(version)
    db.flush()
    return version


def publish(db: Session, conf: EngineSettings, draft: CatalogDraft, by: str, today: dt.date) -> CatalogVersion:
    """Write a draft into the catalog (sets `reviewed`), record the version and close the draft."""
    if draft.status != "draft":
        raise CatalogEditError("Bản nháp này đã được xử lý")
    now = entry_values(conf.catalog_path, conf.intents_dir, draft.entry_id) if draft.action == "edit" else {}
    clash = [name for name, value in (draft.base or {}).items() if now.get(name) != value]
    if clash:
        raise CatalogEditError("Mục đã được sửa sau khi soạn bản nháp này; hãy soạn lại từ nội dung mới", clash)
    written = apply(conf.catalog_path, conf.intents_dir, change_of(draft), today)
    draft.status, draft.decided_by, draft.decided_at = "published", by, utcnow()
    _link_citizens(db, draft)
    return _record(db, written, draft.entry_id, draft.action, draft.title, by, draft_id=draft.id)


def _link_citizens(db: Session, draft: CatalogDraft) -> int:
    """Record which citizens' questions became phrasings, so their withdrawal takes them out again."""
    before = set((draft.base or {}).get("questions") or [])
    added = [q for q in (draft.fields or {}).get("questions") or [] if q not in before]
    if not added:
        return 0
    ids = db.scalars(select(Message.id).where(Message.direction == "in", Message.text.in_(added))).all()
    return record_taught(db, ids, draft.entry_id, added)


def reject(draft: CatalogDraft, by: str, reason: str) -> None:
    """Close a draft without publishing it."""
    if draft.status != "draft":
        raise CatalogEditError("Bản nháp này đã được xử lý")
    draft.status, draft.decided_by, draft.decided_at, draft.reason = "rejected", by, utcnow(), reason or None


def later_versions(db: Session, version: CatalogVersion) -> list[CatalogVersion]:
    """Versions of the same file after this one (rolling this one back undoes them too)."""
    return list(db.scalars(select(CatalogVersion).where(CatalogVersion.file == version.file,
                                                        CatalogVersion.id > version.id)
                           .order_by(CatalogVersion.id)))


def rollback(db: Session, conf: EngineSettings, version: CatalogVersion, by: str) -> CatalogVersion:
    """Put the file back as it was before `version`; the rollback is itself a version (and can be undone)."""
    written = restore(conf.catalog_path, conf.intents_dir, version.file, version.backup)
    title = f"Quay lại trước phiên bản #{version.id}: {version.title}"
    return _record(db, written, version.entry_id, "rollback", title, by, restores_id=version.id)
