"""Which citizens' questions a taught phrasing came from: kept so that their withdrawal can take it back."""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from webhooks.storage.models import Message, TaughtPhrasing


def record_taught(session: Session, message_ids: Iterable[int], entry_id: str, phrasings: Iterable[str]) -> int:
    """One row per (citizen, phrasing) among these messages whose text became a phrasing; how many."""
    wanted = {" ".join(p.split()) for p in phrasings}
    ids = list(message_ids)
    if not wanted or not ids:
        return 0
    pairs = {(row.citizen_id, " ".join(row.text.split()))
             for row in session.execute(select(Message.citizen_id, Message.text).where(Message.id.in_(ids)))
             if " ".join((row.text or "").split()) in wanted}
    session.add_all(TaughtPhrasing(citizen_id=citizen_id, entry_id=entry_id, phrasing=phrasing)
                    for citizen_id, phrasing in sorted(pairs))
    return len(pairs)
