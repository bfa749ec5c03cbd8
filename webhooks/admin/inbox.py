"""The hand-over inbox's queries: lists by state with search by words and dates, a request's history."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from webhooks.admin.scoping import Scope, within
from webhooks.admin.stats import utc_bounds
from webhooks.storage.models import AuditLog, Citizen, CitizenProfile, Handoff, HandoffNote, Message

VIEWS = {"mo": "Cần xử lý", "cho": "Chờ người dân", "cua-toi": "Của tôi", "xong": "Đã xong"}
HISTORY_SCAN = 2000  # audit rows looked through for one request's history (newest first)
LIST_LIMIT = 500


def _like(words: str) -> str:
    # LIKE's own wildcards in the search are literal characters (escaped with "\").
    return "%" + words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search(session: Session, view: str, username: str, words: str = "", start: dt.date | None = None,
           end: dt.date | None = None, scope: Scope | None = None) -> list[Any]:
    """Hand-overs of one view (VIEWS), newest activity first for the history, oldest first while open."""
    query = (select(Handoff, Citizen, CitizenProfile).join(Citizen, Citizen.id == Handoff.citizen_id)
             .outerjoin(CitizenProfile, CitizenProfile.citizen_id == Citizen.id)
             .where(within(Handoff.citizen_id, scope)))
    if view == "xong":
        query = query.where(Handoff.closed_at.is_not(None)).order_by(Handoff.closed_at.desc())
    else:
        query = query.where(Handoff.closed_at.is_(None)).order_by(Handoff.opened_at)
        if view == "cho":
            query = query.where(Handoff.state == "waiting")
        elif view == "cua-toi":
            query = query.where(Handoff.assignee == username)
        else:
            query = query.where(Handoff.state.is_(None))
    if start is not None:
        query = query.where(Handoff.opened_at >= utc_bounds(start, start)[0])
    if end is not None:
        query = query.where(Handoff.opened_at < utc_bounds(end, end)[1])
    words = words.strip()
    if words:
        pattern = _like(words)
        # What the citizen wrote up to the request's end (the question that led to it included), staff's
        # notes on it, or who the citizen is.
        said = exists().where(Message.citizen_id == Handoff.citizen_id,
                              or_(Handoff.closed_at.is_(None), Message.created_at <= Handoff.closed_at),
                              Message.text.ilike(pattern, escape="\\"))
        noted = exists().where(HandoffNote.handoff_id == Handoff.id, HandoffNote.text.ilike(pattern, escape="\\"))
        query = query.where(or_(said, noted, CitizenProfile.display_name.ilike(pattern, escape="\\"),
                                CitizenProfile.shared_name.ilike(pattern, escape="\\"),
                                and_(CitizenProfile.phone.is_not(None), CitizenProfile.phone.ilike(pattern, escape="\\"))))
    return session.execute(query.limit(LIST_LIMIT)).all()


def last_question(session: Session, citizen_id: int) -> Message | None:
    """The citizen's most recent message."""
    return session.scalar(select(Message).where(Message.citizen_id == citizen_id, Message.direction == "in")
                          .order_by(Message.created_at.desc(), Message.id.desc()).limit(1))


def history(session: Session, handoff_id: int) -> list[AuditLog]:
    """Who did what on this request (from the audit log), oldest first."""
    rows = session.scalars(select(AuditLog).where(AuditLog.action.like("handoff.%"))
                           .order_by(AuditLog.at.desc()).limit(HISTORY_SCAN))
    return [row for row in rows if (row.detail or {}).get("handoff") == handoff_id][::-1]


ACTION_LABELS = {"handoff.reply": "trả lời", "handoff.close": "đóng yêu cầu", "handoff.take": "nhận xử lý",
                 "handoff.assign": "giao cho", "handoff.state": "đổi trạng thái", "handoff.note": "ghi chú",
                 "handoff.canned": "gửi mẫu trả lời", "handoff.ask_info": "xin số điện thoại"}
STATE_LABELS = {None: "Cần xử lý", "open": "Cần xử lý", "waiting": "Chờ người dân", "resolved": "Đã xong"}
