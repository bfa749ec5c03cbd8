"""Catalog drafts: staff propose an edit, a new entry or a retirement; an admin reviews the diff and publishes."""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from bot.catalog_edit import CatalogEditError
from bot.catalog_entries import Change, values_of
from webhooks.admin.scoping import scope
from webhooks.admin.accounts import audit
from webhooks.admin.auth import province_admin_required
from webhooks.admin.blueprint import bp, engine_holder
from webhooks.admin.clusters import build_clusters, find_cluster
from webhooks.admin.common import SENSITIVE, VN, engine, period_days, settings, since
from webhooks.admin.drafts import (ACTION_LABELS, STATUS_LABELS, changed_fields, check, conflicts, publish, reject,
                                   save_draft)
from webhooks.admin.forms import ActionForm
from webhooks.admin.forms_catalog import KINDS, EntryForm, NewEntryForm, RejectForm
from webhooks.storage.engine import get_session
from webhooks.storage.models import CatalogDraft, Message

KIND_LABELS = {"procedure": "Thủ tục", "faq": "Hỏi đáp", "intent": "Giao tiếp"}
PROBLEMS_SHOWN = 5


def _today() -> dt.date:
    return dt.datetime.now(VN).date()


def _conf():
    return settings().engine


def _refused(form: Any, exc: CatalogEditError) -> None:
    """Show why the catalog would not load, above the form (nothing was saved)."""
    form.form_errors.extend([str(exc), *exc.problems[:PROBLEMS_SHOWN]])


def _propose(change: Change, base: dict[str, Any], title: str, form: Any) -> Any:
    """Check the change on a copy of the catalog; if it loads, save it as a draft and show it."""
    try:
        shown = check(_conf(), change, _today())
    except CatalogEditError as exc:
        _refused(form, exc)
        return None
    db = get_session()
    draft = save_draft(db, change, base, title, current_user.username, shown)
    audit(db, current_user.username, "catalog.draft", draft=draft.id, entry=change.entry_id, change=change.action)
    db.commit()
    flash("Đã lưu bản nháp. Quản trị viên xem thay đổi rồi xuất bản; bot chưa thay đổi cho đến lúc đó.", "ok")
    return redirect(url_for("admin.draft", draft_id=draft.id))


@bp.get("/ban-nhap")
@login_required
def drafts():
    """Drafts waiting for an admin, recent decisions, and every entry with a link to edit it."""
    db = get_session()
    waiting = db.scalars(select(CatalogDraft).where(CatalogDraft.status == "draft")
                         .order_by(CatalogDraft.created_at.desc())).all()
    decided = db.scalars(select(CatalogDraft).where(CatalogDraft.status != "draft")
                         .order_by(CatalogDraft.decided_at.desc()).limit(20)).all()
    entries = sorted(engine().catalog.entries.values(), key=lambda e: (e.kind != "procedure", e.title))
    return render_template("admin/drafts.html", title="Sửa danh mục", waiting=waiting, decided=decided,
                           entries=entries, kinds=KIND_LABELS, actions=ACTION_LABELS, statuses=STATUS_LABELS,
                           new_kinds=KINDS)


@bp.route("/ban-nhap/sua/<entry_id>", methods=["GET", "POST"])
@login_required
def draft_edit(entry_id: str):
    """An entry's fields in a form; saving makes a draft (checked like lint first)."""
    entry = engine().catalog.entries.get(entry_id)
    if entry is None:
        abort(404)
    current = values_of(entry)
    form = EntryForm().for_kind(entry.kind)
    if not form.is_submitted():
        form.fill(current)
    elif form.validate():
        fields = changed_fields(current, form.values())
        if not fields:
            form.form_errors.append("Chưa có thay đổi nào so với danh mục hiện tại.")
        else:
            base = {k: current.get(k) for k in fields}
            done = _propose(Change("edit", entry_id, fields), base, entry.title, form)
            if done is not None:
                return done
    status = 400 if form.is_submitted() else 200
    return render_template("admin/draft_form.html", title=f"Sửa: {entry.title}", form=form, entry=entry,
                           kind=entry.kind, kinds=KIND_LABELS, retire=ActionForm(),
                           sensitive=entry.id in SENSITIVE), status


def _cluster_phrasings(key: str | None, days: int) -> list[str]:
    """The distinct texts of an unanswered-questions cluster (a new answer starts from them)."""
    if key is None:
        return []
    found = find_cluster(build_clusters(get_session(), settings().engine.thresholds, since(days), scope=scope()), key)
    if found is None:
        return []
    texts = get_session().scalars(select(Message.text).where(Message.id.in_(found.latest_ids(50)))).all()
    return list(dict.fromkeys(" ".join(t.split()) for t in texts if t and t.strip()))


@bp.route("/ban-nhap/moi", methods=["GET", "POST"])
@login_required
def draft_new():
    """A new entry (an FAQ or a procedure), optionally started from a cluster of misunderstood questions."""
    kind = request.args.get("kind", "faq")
    if kind not in dict(KINDS):
        abort(404)
    key, days = request.args.get("key"), period_days(request.args.get("days"))
    form = NewEntryForm().for_kind(kind)
    if not form.is_submitted():
        form.fill({"questions": _cluster_phrasings(key, days)})
    elif form.validate():
        entry_id = form.entry_id.data.strip()
        if entry_id in engine().catalog.entries:
            form.entry_id.errors.append("Mã này đã có trong danh mục; chọn mã khác.")
        else:
            fields = {"kind": kind, **{k: v for k, v in form.values().items() if v}}
            done = _propose(Change("add", entry_id, fields), {}, fields["title"], form)
            if done is not None:
                return done
    status = 400 if form.is_submitted() else 200
    return render_template("admin/draft_form.html", title="Thêm mục mới", form=form, entry=None, kind=kind,
                           kinds=KIND_LABELS, new_kinds=KINDS, key=key, days=days), status


@bp.post("/ban-nhap/ngung/<entry_id>")
@login_required
def draft_retire(entry_id: str):
    """Propose taking an entry out of the catalog (refused at once if other files still name it)."""
    entry = engine().catalog.entries.get(entry_id)
    if entry is None:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        shown = check(_conf(), Change("retire", entry_id), _today())
    except CatalogEditError as exc:
        flash(" ".join(["Không thể ngừng dùng mục này:", str(exc), *exc.problems[:3]]), "warn")
        return redirect(url_for("admin.draft_edit", entry_id=entry_id))
    db = get_session()
    draft = save_draft(db, Change("retire", entry_id), {}, entry.title, current_user.username, shown)
    audit(db, current_user.username, "catalog.draft", draft=draft.id, entry=entry_id, change="retire")
    db.commit()
    flash("Đã lưu đề nghị ngừng dùng mục này; quản trị viên sẽ duyệt.", "ok")
    return redirect(url_for("admin.draft", draft_id=draft.id))


def _draft_or_404(draft_id: int) -> CatalogDraft:
    draft = get_session().get(CatalogDraft, draft_id)
    if draft is None:
        abort(404)
    return draft


@bp.get("/ban-nhap/<int:draft_id>")
@login_required
def draft(draft_id: int):
    """One draft: what it changes as a diff of the file, lint's warnings, and (admins) publish or refuse.

    The diff is the one checked when the draft was saved; publishing checks the change again."""
    found = _draft_or_404(draft_id)
    clash = conflicts(engine().catalog, found) if found.status == "draft" else []
    return render_template("admin/draft.html", title=f"Bản nháp #{found.id}", draft=found,
                           diff=(found.diff or "").splitlines(), warnings=found.warnings or [], clash=clash,
                           actions=ACTION_LABELS, statuses=STATUS_LABELS, action=ActionForm(),
                           reject_form=RejectForm())


@bp.post("/ban-nhap/<int:draft_id>/xuat-ban")
@province_admin_required
def draft_publish(draft_id: int):
    """Publish: write the change (validated again), set `reviewed`, reload the bot, add a version."""
    found = _draft_or_404(draft_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    db = get_session()
    try:
        version = publish(db, _conf(), found, current_user.username, _today())
    except CatalogEditError as exc:
        db.rollback()
        flash(" ".join(["Chưa xuất bản được:", str(exc), *exc.problems[:3]]), "warn")
        return redirect(url_for("admin.draft", draft_id=draft_id))
    engine_holder().reload()
    audit(db, current_user.username, "catalog.publish", draft=found.id, version=version.id, entry=found.entry_id)
    db.commit()
    flash(f"Đã xuất bản (phiên bản #{version.id}); bot đã cập nhật ngay.", "ok")
    return redirect(url_for("admin.catalog_history"))


@bp.post("/ban-nhap/<int:draft_id>/tu-choi")
@province_admin_required
def draft_reject(draft_id: int):
    """Refuse a draft, with a reason its author sees."""
    found = _draft_or_404(draft_id)
    form = RejectForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        reject(found, current_user.username, (form.reason.data or "").strip())
    except CatalogEditError as exc:
        flash(str(exc), "warn")
        return redirect(url_for("admin.draft", draft_id=draft_id))
    db = get_session()
    audit(db, current_user.username, "catalog.reject", draft=found.id, entry=found.entry_id)
    db.commit()
    flash("Đã không duyệt bản nháp.", "ok")
    return redirect(url_for("admin.drafts"))
