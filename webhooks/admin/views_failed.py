"""Replies Zalo never took: the reason for each, and "gửi lại" for admins while the citizen's window is open."""
from __future__ import annotations

import datetime as dt

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from webhooks.admin.scoping import citizen_or_404, scope, within
from webhooks.admin.accounts import audit
from webhooks.admin.auth import role_required
from webhooks.admin.blueprint import bp
from webhooks.admin.common import paginate
from webhooks.admin.forms import ActionForm
from webhooks.admin.replying import pseudonym
from webhooks.outbox.writing import deadline, resend, within_window
from webhooks.storage.engine import get_session
from webhooks.storage.models import Citizen, Outbox

SHOWN = 500  # the newest failures; older ones are in the database and the CSV export


@bp.get("/tin-gui-loi")
@login_required
def failed():
    """Failed replies, newest first, with Zalo's (or the deadline's) reason."""
    rows = get_session().execute(
        select(Outbox, Citizen).outerjoin(Citizen, Citizen.zalo_id == Outbox.zalo_id)
        .where(Outbox.status == "failed", within(Citizen.id, scope())).order_by(Outbox.id.desc()).limit(SHOWN)).all()
    items = [{"row": row, "label": pseudonym(row.zalo_id), "text": (row.body or {}).get("text", ""),
              "open": citizen is not None and citizen.following and within_window(citizen)} for row, citizen in rows]
    return render_template("admin/failed.html", title="Tin gửi lỗi", page=paginate(items, request.args.get("page")),
                           resend=ActionForm())


@bp.post("/tin-gui-loi/<int:outbox_id>/gui-lai")
@role_required("admin")
def failed_resend(outbox_id: int):
    """Send a failed reply again (admins), if Zalo still allows a message to this citizen."""
    db = get_session()
    row = db.get(Outbox, outbox_id)
    citizen = db.scalars(select(Citizen).where(Citizen.zalo_id == row.zalo_id)).first() if row else None
    if row is None or (citizen is None and not scope().everything):
        abort(404)
    if citizen is not None:
        citizen = citizen_or_404(db, citizen.id)
    if citizen is None or not citizen.following or not within_window(citizen):
        flash("Người dân đã bỏ quan tâm OA hoặc đã quá 7 ngày kể từ lần nhắn cuối: Zalo không cho gửi lại.", "warn")
        return redirect(url_for("admin.failed"))
    horizon = dt.timedelta(hours=current_app.config["SETTINGS"].reply_horizon_hours)
    if resend(db.connection(), outbox_id, deadline(citizen.last_interaction, horizon)):
        audit(db, current_user.username, "outbox.resend", outbox=outbox_id, citizen_id=citizen.id)
        db.commit()
        current_app.extensions["bot.workers"].wake()
        flash("Đã xếp tin vào hàng gửi lại.", "ok")
    else:
        flash("Tin này không còn ở trạng thái lỗi.", "warn")
    return redirect(url_for("admin.failed"))
