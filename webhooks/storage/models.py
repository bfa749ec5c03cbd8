"""SQLAlchemy 2.0 models: citizens, messages, outbox, conversation state, tokens, staff, audit."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, MetaData, String, Text,
                        UniqueConstraint, literal, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    """Timezone-aware now, the only clock the models use."""
    return dt.datetime.now(dt.timezone.utc)


# Named constraints keep Alembic batch migrations on SQLite able to find and alter them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base shared by every table (and by Alembic)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: DateTime(timezone=True), dict[str, Any]: JSON}


# The rows claims look at. A claim's statement spells its statuses as constants (storage.models.const),
# so that PostgreSQL can prove it only reads these partial indexes, whatever plan it caches.
_UNANSWERED = "direction = 'in' AND status IN ('received', 'answering')"
_UNSENT = "status IN ('pending', 'sending')"


def const(value: str) -> Any:
    """`value` written into the SQL text rather than bound (see the partial indexes below)."""
    return literal(value, literal_execute=True)


class Citizen(Base):
    """A Zalo user who has talked to the OA."""

    __tablename__ = "citizens"
    id: Mapped[int] = mapped_column(primary_key=True)
    zalo_id: Mapped[str] = mapped_column(String(64), unique=True)
    first_seen: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_interaction: Mapped[dt.datetime] = mapped_column(default=utcnow)  # start of the 7-day window
    following: Mapped[bool] = mapped_column(Boolean, default=True)
    messages: Mapped[list["Message"]] = relationship(back_populates="citizen", cascade="all, delete-orphan",
                                                     passive_deletes=True)


class Message(Base):
    """One message in or out; inbound ones carry Zalo's msg_id (unique: retries are dropped)."""

    __tablename__ = "messages"
    # The dashboard and /healthz count by status; answering claims the oldest unfinished inbound rows, a
    # partial index of only those (small, whatever the history's size).
    __table_args__ = (Index("ix_messages_direction_status", "direction", "status"),
                      Index("ix_messages_unanswered", "id", postgresql_where=text(_UNANSWERED),
                            sqlite_where=text(_UNANSWERED)))
    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    msg_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    event_name: Mapped[str] = mapped_column(String(64), default="user_send_text")
    text: Mapped[str] = mapped_column(Text, default="")  # masked before storage
    normalized: Mapped[str] = mapped_column(Text, default="")  # engine normalisation, for clustering
    intent: Mapped[str | None] = mapped_column(String(64), index=True)
    score: Mapped[float | None] = mapped_column(Float)
    # answered | clarified | fallback | out_of_scope | smalltalk | handoff | emergency | wrong_answer | waiting
    # (engine); staff; ignored (unfollow); system (welcome, media, location: events the engine does not match)
    outcome: Mapped[str | None] = mapped_column(String(16), index=True)
    # Answered, but staff should look: wrong_answer (the citizen said so) | unsure (low score or margin)
    review: Mapped[str | None] = mapped_column(String(16), index=True)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # a wrong answer: {question, answered, said}
    candidates: Mapped[list | None] = mapped_column(JSON)  # engine's best guesses [{id, score}]
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # raw inbound event (masked text)
    # in: received | answering | processed | skipped | failed (engine error); out: queued | sent | failed (mirrors outbox)
    status: Mapped[str] = mapped_column(String(16), default="received")
    lease_until: Mapped[dt.datetime | None] = mapped_column()  # while "answering": whose claim it is, and until when
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    sent_by: Mapped[str | None] = mapped_column(String(64))  # staff username for staff replies
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    citizen: Mapped[Citizen] = relationship(back_populates="messages")


class Outbox(Base):
    """A reply written before it is sent; marked sent only on Zalo's success."""

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("source_id", "seq", name="uq_outbox_source_seq"),
                      Index("ix_outbox_due", "status", "next_attempt_at"),
                      Index("ix_outbox_unfinished", "id", postgresql_where=text(_UNSENT),
                            sqlite_where=text(_UNSENT)))
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))  # inbound msg or staff msg
    seq: Mapped[int] = mapped_column(Integer, default=0)  # n-th reply to that source
    # The outgoing Message row this delivers (its status mirrors ours, for the dashboard).
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    zalo_id: Mapped[str] = mapped_column(String(64), index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)  # channel-neutral Reply.to_dict()
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[dt.datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    zalo_message_id: Mapped[str | None] = mapped_column(String(128))
    # Zalo's echo (oa_send_*) of this row's text while its send was unconfirmed: it did reach Zalo.
    echo_msg_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column()  # no attempt after this: failed instead
    sent_at: Mapped[dt.datetime | None] = mapped_column()


class ConversationRow(Base):
    """The engine's per-citizen state, shared by all workers."""

    __tablename__ = "conversation_state"
    zalo_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Token(Base):
    """The OA's access/refresh token pair (one row, id=1)."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[dt.datetime | None] = mapped_column()
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Handoff(Base):
    """A citizen asked for a human: while open, the bot answers only emergencies and a wish to come back to it."""

    __tablename__ = "handoffs"
    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"), index=True)
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column()
    closed_by: Mapped[str | None] = mapped_column(String(64))  # a username, "citizen" (back to the bot), "idle"


class ClusterMark(Base):
    """A reviewer's decision on a cluster of unanswered questions (keyed by normalised text)."""

    __tablename__ = "cluster_marks"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # ignored | resolved | attached
    entry_id: Mapped[str | None] = mapped_column(String(64))
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class User(Base):
    """A dashboard account (tech-team reviewer or commune admin)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # reviewer | admin
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuditLog(Base):
    """Who changed what, when."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class CatalogDraft(Base):
    """A proposed catalog change (edit an entry's fields, add an entry, retire one), published by an admin."""

    __tablename__ = "catalog_drafts"
    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(8))  # edit | add | retire
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # new values (add: with kind)
    base: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # those fields' values when drafted
    title: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(12), default="draft", index=True)  # draft | published | rejected
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column()
    reason: Mapped[str | None] = mapped_column(Text)  # why it was rejected
    diff: Mapped[str] = mapped_column(Text, default="")  # the file's diff when drafted (checked again on publish)
    warnings: Mapped[list | None] = mapped_column(JSON)  # lint's warnings about the entry when drafted


class CatalogVersion(Base):
    """One change written to a catalog file (a published draft or a rollback), with the copy it replaced."""

    __tablename__ = "catalog_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_drafts.id", ondelete="SET NULL"))
    restores_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_versions.id", ondelete="SET NULL"))
    entry_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(8))  # edit | add | retire | rollback
    file: Mapped[str] = mapped_column(String(255))  # procedures.yaml or an intents/ file name
    backup: Mapped[str] = mapped_column(String(255))  # the file's previous text, in the catalog history
    sha: Mapped[str] = mapped_column(String(16))  # the file's text after this version
    diff: Mapped[str] = mapped_column(Text, default="")
    title: Mapped[str] = mapped_column(String(255), default="")
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
