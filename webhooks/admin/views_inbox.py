"""Actions on a hand-over: take or assign it, its state, private notes, canned replies, asking for a phone."""
from __future__ import annotations

import datetime as dt

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from webhooks.admin.accounts import audit
from webhooks.admin.auth import role_required
from webhooks.admin.blueprint import bp
from webhooks.admin.forms import ActionForm
from webhooks.admin.forms_staff import AssignForm, CannedForm, CannedSendForm, NoteForm, StateForm
from webhooks.admin.replying import dispatch, send_staff_reply
from webhooks.admin.views_handoffs import _open_handoff, render_handoff, send_to_citizen
from webhooks.inbox.people import mark_info_requested
from webhooks.storage.engine import get_session
from webhooks.storage.models import CannedReply, HandoffNote, User

ASK_INFO = "Cho phép xã liên hệ lại với bạn\nBấm vào đây để chia sẻ tên và số điện thoại với cán bộ xã."


def _back(handoff_id: int):
    return redirect(url_for("admin.handoff", handoff_id=handoff_id))


@bp.post("/gap-can-bo/<int:handoff_id>/giao")
@login_required
def handoff_assign(handoff_id: int):
    """Take the request (anyone), or give it to another member (admins only)."""
    found, citizen = _open_handoff(handoff_id)
    form = AssignForm()
    if not form.validate():
        return render_handoff(found, citizen, 400, assign=form)
    who = (form.assignee.data or "").strip()
    if who != current_user.username and not current_user.is_admin:
        abort(403)
    db = get_session()
    if db.scalar(select(User.id).where(User.username == who, User.active.is_(True))) is None:
        form.assignee.errors = ["Không có cán bộ này (hoặc tài khoản đã bị khoá)."]
        return render_handoff(found, citizen, 400, assign=form)
    found.assignee = who
    if who == current_user.username:
        audit(db, current_user.username, "handoff.take", handoff=found.id, citizen_id=found.citizen_id)
    else:
        audit(db, current_user.username, "handoff.assign", handoff=found.id, citizen_id=found.citizen_id, to=who)
    db.commit()
    flash("Bạn đã nhận xử lý yêu cầu này." if who == current_user.username else f"Đã giao cho {who}.", "ok")
    return _back(handoff_id)


@bp.post("/gap-can-bo/<int:handoff_id>/trang-thai")
@login_required
def handoff_state(handoff_id: int):
    """Open (staff's turn), waiting for the citizen, or resolved (the bot answers again)."""
    found, citizen = _open_handoff(handoff_id)
    form = StateForm()
    if not form.validate():
        return render_handoff(found, citizen, 400, state=form)
    if found.closed_at is not None:
        flash("Yêu cầu này đã xong.", "warn")
        return _back(handoff_id)
    db = get_session()
    new = form.state.data
    if new == "resolved":
        found.closed_at, found.closed_by = dt.datetime.now(dt.timezone.utc), current_user.username
        audit(db, current_user.username, "handoff.close", handoff=found.id, citizen_id=found.citizen_id)
    else:
        found.state = "waiting" if new == "waiting" else None
        audit(db, current_user.username, "handoff.state", handoff=found.id, citizen_id=found.citizen_id, state=new)
    db.commit()
    flash({"resolved": "Đã xong. Bot sẽ trả lời người dân này như bình thường.",
           "waiting": "Đã chuyển sang chờ người dân. Khi người dân nhắn lại, yêu cầu trở về “Cần xử lý”.",
           "open": "Yêu cầu trở về “Cần xử lý”."}[new], "ok")
    return redirect(url_for("admin.handoffs")) if new == "resolved" else _back(handoff_id)


@bp.post("/gap-can-bo/<int:handoff_id>/ghi-chu")
@login_required
def handoff_note(handoff_id: int):
    """A private note on the request (staff see it; the citizen never does)."""
    found, citizen = _open_handoff(handoff_id)
    form = NoteForm()
    if not form.validate():
        return render_handoff(found, citizen, 400, note=form)
    db = get_session()
    db.add(HandoffNote(handoff_id=found.id, citizen_id=citizen.id, author=current_user.username,
                       text=(form.text.data or "").strip()))
    audit(db, current_user.username, "handoff.note", handoff=found.id, citizen_id=found.citizen_id)
    db.commit()
    flash("Đã lưu ghi chú.", "ok")
    return _back(handoff_id)


@bp.post("/gap-can-bo/<int:handoff_id>/mau")
@login_required
def handoff_canned(handoff_id: int):
    """Send a canned reply as it is."""
    found, citizen = _open_handoff(handoff_id)
    form = CannedSendForm()
    canned = get_session().get(CannedReply, form.canned_id.data) if form.validate() else None
    if canned is None:
        form.canned_id.errors = ["Mẫu trả lời không còn; hãy tải lại trang."]
        return render_handoff(found, citizen, 400, canned_form=form)
    if found.closed_at is not None:
        flash("Yêu cầu này đã đóng; bot đang trả lời người dân.", "warn")
        return _back(handoff_id)
    send_to_citizen(found, citizen, canned.text, "handoff.canned", canned=canned.title)
    return _back(handoff_id)


@bp.post("/gap-can-bo/<int:handoff_id>/xin-so")
@login_required
def handoff_ask_info(handoff_id: int):
    """Send Zalo's form asking the citizen to share name and phone (they choose; nothing is taken)."""
    found, citizen = _open_handoff(handoff_id)
    if not ActionForm().validate():
        return _back(handoff_id)
    db = get_session()
    deliveries = send_staff_reply(db, [citizen], ASK_INFO, current_user.username, form="ask_info")
    if deliveries[0].queued:
        mark_info_requested(db.connection(), citizen.id)
    audit(db, current_user.username, "handoff.ask_info", handoff=found.id, citizen_id=found.citizen_id,
          sent=deliveries[0].queued)
    db.commit()
    dispatch(deliveries)
    flash("Đã gửi mẫu xin số điện thoại. Khi người dân đồng ý, số sẽ hiện ở đây." if deliveries[0].queued
          else deliveries[0].reason, "ok" if deliveries[0].queued else "warn")
    return _back(handoff_id)


@bp.route("/mau-tra-loi", methods=["GET", "POST"])
@role_required("admin")
def canned_replies():
    """Admins add and edit the canned replies every member can send."""
    db = get_session()
    form = CannedForm()
    if form.validate_on_submit():
        row = db.get(CannedReply, int(form.canned_id.data)) if (form.canned_id.data or "").isdigit() else None
        if form.canned_id.data and row is None:
            abort(404)
        row = row or CannedReply(updated_by=current_user.username)
        row.title, row.text = (form.title.data or "").strip(), (form.text.data or "").strip()
        row.updated_by, row.updated_at = current_user.username, dt.datetime.now(dt.timezone.utc)
        db.add(row)
        db.flush()
        audit(db, current_user.username, "canned.save", canned=row.id, title=row.title)
        db.commit()
        flash(f"Đã lưu mẫu “{row.title}”.", "ok")
        return redirect(url_for("admin.canned_replies"))
    rows = db.scalars(select(CannedReply).order_by(CannedReply.title)).all()
    editors = [CannedForm(formdata=None, canned_id=str(r.id), title=r.title, text=r.text) for r in rows]
    return render_template("admin/canned.html", title="Mẫu trả lời", form=form, editors=editors,
                           delete=ActionForm()), 400 if form.errors else 200


@bp.post("/mau-tra-loi/<int:canned_id>/xoa")
@role_required("admin")
def canned_delete(canned_id: int):
    """Remove a canned reply."""
    db = get_session()
    row = db.get(CannedReply, canned_id)
    if row is None:
        abort(404)
    if ActionForm().validate():
        audit(db, current_user.username, "canned.delete", canned=row.id, title=row.title, text=row.text)
        db.delete(row)
        db.commit()
        flash(f"Đã xoá mẫu “{row.title}”.", "ok")
    return redirect(url_for("admin.canned_replies"))
