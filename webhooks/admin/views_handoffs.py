"""Page 3: the hand-over inbox — lists by state with search, a request's page, reply and close."""
from __future__ import annotations

import datetime as dt

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from webhooks.admin.scoping import citizen_or_404, scope
from webhooks.admin.accounts import audit
from webhooks.admin.blueprint import bp
from webhooks.admin.common import paginate
from webhooks.admin.forms import ActionForm, ReplyForm
from webhooks.admin.forms_staff import AssignForm, CannedSendForm, InboxSearchForm, NoteForm, StateForm
from webhooks.admin.inbox import ACTION_LABELS, STATE_LABELS, VIEWS, history, last_question, search
from webhooks.admin.replying import dispatch, pseudonym, send_staff_reply, summary
from webhooks.inbox.people import display
from webhooks.outbox.writing import within_window
from webhooks.storage.engine import get_session
from webhooks.storage.models import CannedReply, Citizen, CitizenProfile, Handoff, HandoffNote, Message, User

CONVERSATION_LENGTH = 50


@bp.get("/gap-can-bo")
@login_required
def handoffs():
    """Requests for a person: those needing staff (oldest first), waiting for the citizen, mine, resolved."""
    view = request.args.get("xem", "mo")
    view = view if view in VIEWS else "mo"
    form = InboxSearchForm(request.args)
    found = []
    status = 200
    if form.validate():
        found = search(get_session(), view, current_user.username, form.q.data or "", form.start.data, form.end.data,
                       scope=scope())
    else:
        status = 400
    page = paginate(found, request.args.get("page"))
    db = get_session()
    items = [{"handoff": h, "label": display(p, pseudonym(c.zalo_id)), "last": last_question(db, c.id),
              "open": within_window(c) and c.following} for h, c, p in page.items]
    return render_template("admin/handoffs.html", title="Gặp cán bộ", items=items, page=page, view=view,
                           views=VIEWS, form=form, states=STATE_LABELS), status


def _open_handoff(handoff_id: int) -> tuple[Handoff, Citizen]:
    db = get_session()
    handoff = db.get(Handoff, handoff_id)
    if handoff is None:
        abort(404)
    return handoff, citizen_or_404(db, handoff.citizen_id)


def render_handoff(handoff: Handoff, citizen: Citizen, status: int = 200, **forms):
    """The request's page (with a form's errors when one was refused)."""
    db = get_session()
    recent = list(db.scalars(select(Message).where(Message.citizen_id == citizen.id,
                                                   Message.outcome.is_distinct_from("ignored"))
                             .order_by(Message.created_at.desc(), Message.id.desc()).limit(CONVERSATION_LENGTH)))
    recent.reverse()
    profile = db.get(CitizenProfile, citizen.id)
    label = pseudonym(citizen.zalo_id)
    members = db.scalars(select(User.username).where(User.active.is_(True)).order_by(User.username)).all()
    notes = db.scalars(select(HandoffNote).where(HandoffNote.handoff_id == handoff.id).order_by(HandoffNote.at)).all()
    canned = db.scalars(select(CannedReply).order_by(CannedReply.title)).all()
    return render_template(
        "admin/handoff.html", title="Trò chuyện với người dân", handoff=handoff, label=label,
        name=display(profile, label), profile=profile, citizen=citizen, messages=recent,
        open=within_window(citizen) and citizen.following, members=members, notes=notes, canned=canned,
        history=history(db, handoff.id), actions=ACTION_LABELS, states=STATE_LABELS,
        reply=forms.get("reply") or ReplyForm(), close=ActionForm(), assign=forms.get("assign") or AssignForm(),
        state=forms.get("state") or StateForm(), note=forms.get("note") or NoteForm(),
        canned_form=forms.get("canned_form") or CannedSendForm()), status


@bp.get("/gap-can-bo/<int:handoff_id>")
@login_required
def handoff(handoff_id: int):
    """The conversation, who the citizen is, replies (own or canned), notes, state and history."""
    return render_handoff(*_open_handoff(handoff_id))


def send_to_citizen(found: Handoff, citizen: Citizen, text: str, action: str, **detail) -> None:
    """Queue a staff reply on a request, audited, and say how it went."""
    db = get_session()
    deliveries = send_staff_reply(db, [citizen], text, current_user.username)
    audit(db, current_user.username, action, handoff=found.id, citizen_id=found.citizen_id,
          sent=deliveries[0].queued, **detail)
    db.commit()
    dispatch(deliveries)
    _headline, missed = summary(deliveries)
    flash(missed[0] if missed else "Đã gửi trả lời qua Zalo.", "warn" if missed else "ok")


@bp.post("/gap-can-bo/<int:handoff_id>/tra-loi")
@login_required
def handoff_reply(handoff_id: int):
    """Send a staff reply through Zalo (if the 7-day window is still open)."""
    found, citizen = _open_handoff(handoff_id)
    form = ReplyForm()
    if not form.validate():
        return render_handoff(found, citizen, 400, reply=form)
    if found.closed_at is not None:
        flash("Yêu cầu này đã đóng; bot đang trả lời người dân.", "warn")
        return redirect(url_for("admin.handoff", handoff_id=handoff_id))
    send_to_citizen(found, citizen, form.text.data or "", "handoff.reply")
    return redirect(url_for("admin.handoff", handoff_id=handoff_id))


@bp.post("/gap-can-bo/<int:handoff_id>/dong")
@login_required
def handoff_close(handoff_id: int):
    """Resolve the request: the bot answers this citizen again."""
    found, _citizen = _open_handoff(handoff_id)
    if found.closed_at is None:
        db = get_session()
        found.closed_at = dt.datetime.now(dt.timezone.utc)
        found.closed_by = current_user.username
        audit(db, current_user.username, "handoff.close", handoff=found.id, citizen_id=found.citizen_id)
        db.commit()
        flash("Đã đóng yêu cầu. Bot sẽ trả lời người dân này như bình thường.", "ok")
    return redirect(url_for("admin.handoffs"))
