"""Page 6 (admins): the catalog's entries, review dates, flags, the national index, lint results; adding phrasings."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from bot.catalog import CatalogError, Entry
from bot.catalog_edit import CatalogEditError, add_phrasings, remove_phrasings
from bot.lint import STALE_AFTER, lint
from bot.national import NationalIndex, load_national
from webhooks.admin.blueprint import bp, engine_holder
from webhooks.admin.accounts import audit
from webhooks.admin.auth import province_admin_required, role_required
from webhooks.admin.common import SENSITIVE, VN, engine, settings
from webhooks.admin.forms import ActionForm, PhrasingsForm
from webhooks.storage.engine import get_session
from webhooks.storage.models import AuditLog, CatalogPurge

KIND_LABELS = {"procedure": "Thủ tục", "faq": "Hỏi đáp", "intent": "Giao tiếp"}
NATIONAL_RESULTS = 50  # matches listed for one search


@dataclass(frozen=True)
class EntryRow:
    """An entry with the flags an admin acts on."""

    entry: Entry
    stale: bool
    unsourced: bool
    expired: bool


def _rows(today: dt.date) -> list[EntryRow]:
    rows = []
    for entry in engine().catalog.entries.values():
        stale = entry.reviewed is None or today - entry.reviewed > STALE_AFTER
        rows.append(EntryRow(entry, stale=stale,
                             unsourced=entry.kind != "intent" and not entry.sources,
                             expired=bool(entry.valid_until and entry.valid_until < today)))
    return rows


def _national() -> NationalIndex | None:
    """The national index as the files are now (None when it does not load: the lint report says why)."""
    conf = settings()
    try:
        return load_national(conf.engine.national_index, conf.engine.national_aliases)
    except CatalogError:
        return None


@bp.get("/danh-muc")
@role_required("admin")
def catalog():
    """Every entry, flagged when stale (>12 months), unsourced or expired; the national index and a search
    over it; then the lint report."""
    today = dt.datetime.now(VN).date()
    conf = settings()
    problems = lint(conf.engine.catalog_path, conf.engine.intents_dir, today,
                    national_index=conf.engine.national_index, national_aliases=conf.engine.national_aliases)
    rows = _rows(today)
    holder_error = getattr(engine_holder(), "last_error", None)
    national, query = _national(), (request.args.get("q") or "").strip()[:100]
    found = national.search(query, NATIONAL_RESULTS) if national and query else []
    return render_template("admin/catalog.html", title="Danh mục thủ tục", rows=rows, kinds=KIND_LABELS,
                           problems=problems, version=engine().catalog.version, holder_error=holder_error,
                           flagged=sum(r.stale or r.unsourced or r.expired for r in rows),
                           national=national, query=query, found=found, shown=NATIONAL_RESULTS,
                           purges=get_session().scalars(select(CatalogPurge).where(CatalogPurge.attempts > 0)).all())


def _entry_or_404(entry_id: str) -> Entry:
    entry = engine().catalog.entries.get(entry_id)
    if entry is None:
        abort(404)
    return entry


@bp.route("/danh-muc/<entry_id>", methods=["GET", "POST"])
@province_admin_required
def catalog_entry(entry_id: str):
    """One entry: its phrasings, and a box to add more (validated, backed up, reloaded at once)."""
    entry = _entry_or_404(entry_id)
    form = PhrasingsForm()
    status = 200
    if form.validate_on_submit() and entry.id in SENSITIVE and not form.confirm.data:
        form.text.errors = [f"Câu thêm vào “{SENSITIVE[entry.id]}” được bot trả lời như vậy ngay lập tức: đánh dấu "
                            "ô xác nhận rồi bấm lại."]
    elif form.validate_on_submit():
        lines = [line for line in (form.text.data or "").splitlines() if line.strip()]
        conf = settings()
        try:
            result = add_phrasings(conf.engine.catalog_path, conf.engine.intents_dir, entry.id, lines)
        except CatalogEditError as exc:
            form.text.errors = [str(exc), *exc.problems[:5]]
        else:
            engine_holder().reload()
            db = get_session()
            audit(db, current_user.username, "catalog.phrasings", entry=entry.id, added=list(result.added),
                  file=result.path.name, backup=result.backup.name)
            db.commit()
            flash(f"Đã thêm {len(result.added)} câu vào “{entry.title}”.", "ok")
            return redirect(url_for("admin.catalog_entry", entry_id=entry.id))
    if form.errors:
        status = 400
    return render_template("admin/entry.html", title=entry.title, entry=entry, form=form, kinds=KIND_LABELS,
                           taught=_taught(entry), removed=_removed(entry), action=ActionForm(),
                           sensitive=entry.id in SENSITIVE), status


def _history(entry: Entry, action: str) -> list[AuditLog]:
    rows = get_session().scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.at.desc())
                                 .limit(500))
    return [row for row in rows if (row.detail or {}).get("entry") == entry.id]


def _audited(entry: Entry, action: str, key: str, held: bool) -> list[tuple[str, AuditLog]]:
    """Phrasings named under `key` in this entry's `action` audit rows, newest first, that the entry holds
    (`held`) or no longer holds."""
    present, seen, out = set(entry.questions), set(), []
    for row in _history(entry, action):
        for phrasing in (row.detail or {}).get(key) or []:
            if (phrasing in present) == held and phrasing not in seen:
                seen.add(phrasing)
                out.append((phrasing, row))
    return out


def _taught(entry: Entry) -> list[tuple[str, AuditLog]]:
    """Phrasings staff taught into this entry that it still holds, newest first."""
    return _audited(entry, "catalog.phrasings", "added", held=True)


def _removed(entry: Entry) -> list[tuple[str, AuditLog]]:
    """Phrasings removed from this entry that it does not hold again: each can be put back."""
    return _audited(entry, "catalog.phrasing_removed", "removed", held=False)[:20]


def _change_phrasing(entry_id: str, remove: bool):
    """Remove one phrasing from an entry, or put a removed one back; reload, audit, and say so."""
    entry = _entry_or_404(entry_id)
    form = ActionForm()
    phrasing = request.form.get("phrasing", "")
    if form.validate_on_submit() and phrasing:
        conf = settings()
        edit = remove_phrasings if remove else add_phrasings
        try:
            result = edit(conf.engine.catalog_path, conf.engine.intents_dir, entry.id, [phrasing])
        except CatalogEditError as exc:
            flash(" ".join([str(exc), *exc.problems[:3]]), "warn")
            return redirect(url_for("admin.catalog_entry", entry_id=entry.id))
        engine_holder().reload()
        db = get_session()
        where = {"entry": entry.id, "file": result.path.name, "backup": result.backup.name}
        if remove:
            audit(db, current_user.username, "catalog.phrasing_removed", removed=list(result.removed), **where)
            message = f"Đã xoá câu “{phrasing}” khỏi “{entry.title}”; bot đã cập nhật. Có thể khôi phục ở cuối trang."
        else:
            audit(db, current_user.username, "catalog.phrasings", added=list(result.added), restored=True, **where)
            message = f"Đã khôi phục câu “{phrasing}”."
        db.commit()
        flash(message, "ok")
    return redirect(url_for("admin.catalog_entry", entry_id=entry.id))


@bp.post("/danh-muc/<entry_id>/xoa-cau")
@province_admin_required
def remove_phrasing(entry_id: str):
    """Take a taught phrasing out of an entry (audited; it can be put back from the same page)."""
    return _change_phrasing(entry_id, remove=True)


@bp.post("/danh-muc/<entry_id>/khoi-phuc-cau")
@province_admin_required
def restore_phrasing(entry_id: str):
    """Put a removed phrasing back (the undo of remove_phrasing; audited as a catalog edit)."""
    return _change_phrasing(entry_id, remove=False)
