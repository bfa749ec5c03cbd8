"""SQLAlchemy 2.0 models: communes, citizens, messages, outbox, conversation state, tokens, staff, audit."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, MetaData, String, Text,
                        UniqueConstraint, false, literal, text)
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


class Commune(Base):
    """A commune served by this deployment: its OA, its token pair, its overlay folder (communes/<slug>/).

    No rows: the one commune of the environment (ZALO_*) and procedures.yaml, whose citizens and audit
    rows carry commune_id NULL. Secrets are stored as given: reading this table is reading them.
    """

    __tablename__ = "communes"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)  # /webhooks/zalo/<slug>, communes/<slug>/
    name: Mapped[str] = mapped_column(String(128))
    province: Mapped[str] = mapped_column(String(128), default="")
    oa_id: Mapped[str | None] = mapped_column(String(64), unique=True)  # matched in payloads posted to /webhooks/zalo
    app_id: Mapped[str] = mapped_column(String(64), default="")
    app_secret: Mapped[str] = mapped_column(Text, default="")
    oa_secret_key: Mapped[str] = mapped_column(Text, default="")
    access_token: Mapped[str] = mapped_column(Text, default="")  # this OA's pair, refreshed under its own lock
    refresh_token: Mapped[str] = mapped_column(Text, default="")
    token_expires_at: Mapped[dt.datetime | None] = mapped_column()
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Citizen(Base):
    """A Zalo user who has talked to the OA."""

    __tablename__ = "citizens"
    id: Mapped[int] = mapped_column(primary_key=True)
    # Zalo's user ids are per OA, so one id belongs to one commune; NULL: the environment's commune.
    zalo_id: Mapped[str] = mapped_column(String(64), unique=True)
    commune_id: Mapped[int | None] = mapped_column(ForeignKey("communes.id"), index=True)
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
    # While open: None (staff's turn) | "waiting" (for the citizen); closed_at set means resolved.
    state: Mapped[str | None] = mapped_column(String(16))
    assignee: Mapped[str | None] = mapped_column(String(64), index=True)  # the member handling it


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
    # Bumped by logout, a password or role change, disabling: every session of an older epoch is refused.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Sees every commune (and, as an admin, edits the province catalog); others see their memberships'.
    province_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Membership(Base):
    """An account's role in one commune (commune_id NULL: the environment's commune)."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "commune_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    commune_id: Mapped[int | None] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))  # reviewer | admin


class AuditLog(Base):
    """Who changed what, when."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    commune_id: Mapped[int | None] = mapped_column(ForeignKey("communes.id"), index=True)  # NULL: the environment's
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class TaughtPhrasing(Base):
    """A phrasing staff taught the bot from a citizen's question: withdrawal must find it (webhooks.privacy)."""

    __tablename__ = "taught_phrasings"
    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(Integer, index=True)  # no foreign key: the link outlives nothing
    entry_id: Mapped[str] = mapped_column(String(64))
    phrasing: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CatalogPurge(Base):
    """A taught phrasing of a withdrawn citizen still to take out of the catalog files and their history copies.

    Written in the withdrawal's transaction; the claim loop's poller edits the files and deletes the row,
    retrying until done (the files cannot be part of the database transaction).
    """

    __tablename__ = "catalog_purges"
    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(64))
    phrasing: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class LoginFailure(Base):
    """One failed dashboard login, counted per account, per device and per address by every process."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(160))  # account:<name> | device:<name>:<nonce> | address:<ip>
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)

class CitizenProfile(Base):
    """Who a citizen is, for staff: Zalo's display name and avatar, and what they shared through Zalo's form."""

    __tablename__ = "citizen_profiles"
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(255))  # Zalo's user-detail API
    avatar: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[dt.datetime | None] = mapped_column()  # last look at the user-detail API
    shared_name: Mapped[str | None] = mapped_column(String(255))  # user_submit_info (the citizen chose to share)
    phone: Mapped[str | None] = mapped_column(String(32))
    village: Mapped[str | None] = mapped_column(String(255))
    shared_at: Mapped[dt.datetime | None] = mapped_column()
    info_requested_at: Mapped[dt.datetime | None] = mapped_column()  # staff sent the request-user-info form


class HandoffNote(Base):
    """A private note of staff on a hand-over (never sent to the citizen)."""

    __tablename__ = "handoff_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"), index=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CannedReply(Base):
    """A ready-made staff reply, edited by admins."""

    __tablename__ = "canned_replies"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class StaffContact(Base):
    """How a dashboard member is alerted: e-mail, a linked Zalo account, and which alerts."""

    __tablename__ = "staff_contacts"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(255))
    zalo_id: Mapped[str | None] = mapped_column(String(64), unique=True)  # set when the member sent the code
    link_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    link_expires: Mapped[dt.datetime | None] = mapped_column()
    kinds: Mapped[list | None] = mapped_column(JSON)  # alert kinds wanted (None: all)
    by_email: Mapped[bool] = mapped_column(Boolean, default=True)
    by_zalo: Mapped[bool] = mapped_column(Boolean, default=True)


class StaffAlert(Base):
    """Staff must be told (a hand-over, an emergency, a wrong answer): written with the answer, sent with retries."""

    __tablename__ = "staff_alerts"
    __table_args__ = (Index("ix_staff_alerts_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # handoff | emergency | wrong_answer
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[dt.datetime | None] = mapped_column()
    zalo_done: Mapped[bool] = mapped_column(Boolean, default=False)  # linked members' Zalo messages queued
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column()

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
