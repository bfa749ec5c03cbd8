"""Page 3: citizens who asked for a person; reply from the page and hand back to the bot."""
from __future__ import annotations

import datetime as dt

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from webhooks.admin.blueprint import bp
from webhooks.admin.accounts import audit
from webhooks.admin.forms import ActionForm, ReplyForm
from webhooks.admin.replying import dispatch, pseudonym, send_staff_reply, summary
from webhooks.storage.engine import get_session
from webhooks.storage.models import Citizen, Handoff, Message
from webhooks.outbox.writing import within_window

CONVERSATION_LENGTH = 50


@bp.get("/gap-can-bo")
@login_required
def handoffs():
    """Open requests for a person, oldest first (they have waited longest)."""
    db = get_session()
    rows = db.execute(select(Handoff, Citizen).join(Citizen, Citizen.id == Handoff.citizen_id)
                      .where(Handoff.closed_at.is_(None)).order_by(Handoff.opened_at)).all()
    items = []
    for handoff, citizen in rows:
        last = db.scalar(select(Message).where(Message.citizen_id == citizen.id, Message.direction == "in")
                         .order_by(Message.created_at.desc(), Message.id.desc()).limit(1))
        items.append({"handoff": handoff, "label": pseudonym(citizen.zalo_id), "last": last,
                      "open": within_window(citizen) and citizen.following})
    return render_template("admin/handoffs.html", title="Gặp cán bộ", items=items)


def _open_handoff(handoff_id: int) -> tuple[Handoff, Citizen]:
    db = get_session()
    handoff = db.get(Handoff, handoff_id)
    if handoff is None:
        abort(404)
    citizen = db.get(Citizen, handoff.citizen_id)
    assert citizen is not None
    return handoff, citizen


def _render(handoff: Handoff, citizen: Citizen, status: int = 200, reply: ReplyForm | None = None):
    db = get_session()
    recent = list(db.scalars(select(Message).where(Message.citizen_id == citizen.id,
                                                   Message.outcome.is_distinct_from("ignored"))
                             .order_by(Message.created_at.desc(), Message.id.desc()).limit(CONVERSATION_LENGTH)))
    recent.reverse()
    return render_template("admin/handoff.html", title="Trò chuyện với người dân", handoff=handoff,
                           label=pseudonym(citizen.zalo_id), citizen=citizen, messages=recent,
                           open=within_window(citizen) and citizen.following,
                           reply=reply or ReplyForm(), close=ActionForm()), status


@bp.get("/gap-can-bo/<int:handoff_id>")
@login_required
def handoff(handoff_id: int):
    """The conversation, a reply box and the button that hands the citizen back to the bot."""
    return _render(*_open_handoff(handoff_id))


@bp.post("/gap-can-bo/<int:handoff_id>/tra-loi")
@login_required
def handoff_reply(handoff_id: int):
    """Send a staff reply through Zalo (if the 7-day window is still open)."""
    found, citizen = _open_handoff(handoff_id)
    form = ReplyForm()
    if not form.validate():
        return _render(found, citizen, 400, reply=form)
    if found.closed_at is not None:
        flash("Yêu cầu này đã đóng; bot đang trả lời người dân.", "warn")
        return redirect(url_for("admin.handoff", handoff_id=handoff_id))
    db = get_session()
    deliveries = send_staff_reply(db, [citizen], form.text.data or "", current_user.username)
    audit(db, current_user.username, "handoff.reply", handoff=found.id, sent=deliveries[0].queued)
    db.commit()
    dispatch(deliveries)
    _headline, missed = summary(deliveries)
    flash(missed[0] if missed else "Đã gửi trả lời qua Zalo.", "warn" if missed else "ok")
    return redirect(url_for("admin.handoff", handoff_id=handoff_id))


@bp.post("/gap-can-bo/<int:handoff_id>/dong")
@login_required
def handoff_close(handoff_id: int):
    """Close the request: the bot answers this citizen again."""
    found, _citizen = _open_handoff(handoff_id)
    if found.closed_at is None:
        db = get_session()
        found.closed_at = dt.datetime.now(dt.timezone.utc)
        found.closed_by = current_user.username
        audit(db, current_user.username, "handoff.close", handoff=found.id)
        db.commit()
        flash("Đã đóng yêu cầu. Bot sẽ trả lời người dân này như bình thường.", "ok")
    return redirect(url_for("admin.handoffs"))
