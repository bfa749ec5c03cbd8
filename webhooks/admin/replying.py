"""Staff replies to citizens through Zalo, within the 7-day window, with pseudonymous citizen ids."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app
from sqlalchemy.orm import Session

from bot.replies import Reply
from webhooks.inbox import people
from webhooks.storage.models import Citizen
from webhooks.outbox.writing import as_utc, deadline, within_window, write_replies


@dataclass(frozen=True)
class Delivery:
    """What happened to one citizen's reply."""

    citizen_id: int
    label: str
    queued: bool
    reason: str = ""
    outbox_ids: tuple[int, ...] = ()


def pseudonym(zalo_id: str, secret: str | None = None) -> str:
    """A stable, non-reversible short id for a citizen (HMAC of the Zalo id with the app secret)."""
    return people.pseudonym(zalo_id, secret if secret is not None else current_app.config["SECRET_KEY"])


def send_staff_reply(session: Session, citizens: list[Citizen], text: str, username: str,
                     form: str | None = None) -> list[Delivery]:
    """Queue `text` (or Zalo's `form`) to each citizen still inside the window; say plainly for whom it is too late."""
    results: list[Delivery] = []
    for citizen in citizens:
        label = pseudonym(citizen.zalo_id)
        if not citizen.following:
            results.append(Delivery(citizen.id, label, False, "Người dân đã bỏ quan tâm OA, không gửi được."))
        elif not within_window(citizen):
            last = as_utc(citizen.last_interaction)
            when = last.strftime("%d/%m/%Y") if last else "?"
            results.append(Delivery(citizen.id, label, False,
                                    f"Đã quá 7 ngày kể từ lần nhắn cuối ({when}); Zalo không cho gửi tin tư vấn. "
                                    "Hãy liên hệ người dân bằng cách khác."))
        else:
            horizon = dt.timedelta(hours=current_app.config["SETTINGS"].reply_horizon_hours)
            ids = write_replies(session.connection(), citizen_id=citizen.id, zalo_id=citizen.zalo_id, source_id=None,
                                replies=[Reply(text, form=form)], sent_by=username,
                                expires_at=deadline(citizen.last_interaction, horizon))
            results.append(Delivery(citizen.id, label, True, outbox_ids=tuple(ids)))
    return results


def dispatch(deliveries: list[Delivery]) -> None:
    """Wake the claim loop for the queued rows (after the commit; without it they go at its next look)."""
    if any(delivery.outbox_ids for delivery in deliveries):
        current_app.extensions["bot.workers"].wake()


def summary(deliveries: list[Delivery]) -> tuple[str, list[str]]:
    """A one-line result and one line per citizen not reached."""
    sent = sum(d.queued for d in deliveries)
    missed = [f"{d.label}: {d.reason}" for d in deliveries if not d.queued]
    return f"Đã gửi trả lời cho {sent}/{len(deliveries)} người dân.", missed
