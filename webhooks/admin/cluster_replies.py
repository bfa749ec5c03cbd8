"""Replying to a cluster person by person: each asker's own question, one text for all or edited per person."""
from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from webhooks.admin.clusters import Cluster
from webhooks.inbox.people import display
from webhooks.outbox.writing import within_window
from webhooks.storage.models import Citizen, CitizenProfile, Message

FIELD = "rieng-{}"  # the form field of one asker's own text
MAX_TEXT = 2000


def askers(session: Session, cluster: Cluster, label) -> list[dict[str, Any]]:
    """Who asked, most recent first: their own latest question of the cluster, the window, their name."""
    latest: dict[int, int] = {}
    for msg_id, _at, citizen_id, _outcome in sorted(cluster.rows, key=lambda r: r[1], reverse=True):
        latest.setdefault(citizen_id, msg_id)
    texts = dict(session.execute(select(Message.id, Message.text).where(Message.id.in_(latest.values()))).all())
    found = {c.id: (c, p) for c, p in session.execute(
        select(Citizen, CitizenProfile).outerjoin(CitizenProfile, CitizenProfile.citizen_id == Citizen.id)
        .where(Citizen.id.in_(latest)))}
    people = []
    for citizen_id, msg_id in latest.items():
        if citizen_id not in found:
            continue
        citizen, profile = found[citizen_id]
        people.append({"id": citizen_id, "label": display(profile, label(citizen.zalo_id)),
                       "question": texts.get(msg_id, ""), "last": citizen.last_interaction,
                       "open": within_window(citizen) and citizen.following, "field": FIELD.format(citizen_id)})
    return people


def texts_per_person(form: Mapping[str, str], citizen_ids: list[int], common: str) -> tuple[dict[int, str], list[str]]:
    """Each asker's text (their own if written, else the common one) and the errors that stop sending."""
    texts, errors = {}, []
    for citizen_id in citizen_ids:
        own = (form.get(FIELD.format(citizen_id)) or "").strip()
        text = own or common.strip()
        if len(text) > MAX_TEXT:
            errors.append("Mỗi câu trả lời tối đa 2.000 ký tự.")
        texts[citizen_id] = text
    if any(not text for text in texts.values()):
        errors.append("Vui lòng nhập nội dung trả lời. Có thể nhập nội dung chung, hoặc nội dung riêng cho từng người.")
    return texts, sorted(set(errors))
