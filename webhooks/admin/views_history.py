"""The catalog's published versions (admins): what each changed, and a one-step rollback."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from bot.catalog_edit import CatalogEditError
from webhooks.admin.accounts import audit
from webhooks.admin.auth import province_admin_required, role_required
from webhooks.admin.blueprint import bp, engine_holder
from webhooks.admin.common import settings
from webhooks.admin.drafts import ACTION_LABELS, later_versions, rollback
from webhooks.admin.forms import ActionForm
from webhooks.storage.engine import get_session
from webhooks.storage.models import CatalogVersion

SHOWN = 50


@bp.get("/lich-su-danh-muc")
@role_required("admin")
def catalog_history():
    """The latest versions, newest first, each with its diff and a rollback button."""
    db = get_session()
    versions = db.scalars(select(CatalogVersion).order_by(CatalogVersion.id.desc()).limit(SHOWN)).all()
    # Rolling back version v also undoes the later versions of the same file: say how many.
    later = {v.id: sum(1 for w in versions if w.file == v.file and w.id > v.id) for v in versions}
    return render_template("admin/history.html", title="Lịch sử danh mục", versions=versions, later=later,
                           actions=ACTION_LABELS, action=ActionForm())


@bp.post("/lich-su-danh-muc/<int:version_id>/khoi-phuc")
@province_admin_required
def catalog_rollback(version_id: int):
    """Put the catalog file back as it was before this version, reload the bot, record it as a version."""
    db = get_session()
    version = db.get(CatalogVersion, version_id)
    if version is None:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    undone = later_versions(db, version)
    try:
        new = rollback(db, settings().engine, version, current_user.username)
    except CatalogEditError as exc:
        db.rollback()
        flash(" ".join(["Không khôi phục được:", str(exc), *exc.problems[:3]]), "warn")
        return redirect(url_for("admin.catalog_history"))
    engine_holder().reload()
    audit(db, current_user.username, "catalog.rollback", version=version.id, new_version=new.id,
          undone=[v.id for v in undone])
    db.commit()
    extra = f" (cùng {len(undone)} thay đổi sau đó)" if undone else ""
    flash(f"Đã quay lại danh mục như trước phiên bản #{version.id}{extra}; bot đã cập nhật.", "ok")
    return redirect(url_for("admin.catalog_history"))
