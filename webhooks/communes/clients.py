"""Sending for many OAs: each reply goes out with its citizen's commune's client, token and refresh lock.

One OA's trouble stays its own: at most MAX_IN_FLIGHT of a commune's sends are under way at once in
a process (a hanging OA holds no more of the claim loop's threads); after a transient failure (outage,
timeout, refused token, rate limit) its sends fail fast as retries for a short, growing pause; while
one of its sends hangs the next ones are not sent. Each row's own backoff (outbox.retries) does the
rest; the other communes' replies go on.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from sqlalchemy import bindparam, select

from bot.replies import Reply
from webhooks.communes.registry import CommuneInfo, CommuneRegistry
from webhooks.communes.tokens import CommuneTokenStore
from webhooks.settings import Settings
from webhooks.storage.engine import Database
from webhooks.storage.models import Citizen
from webhooks.zalo.api import SendResult, ZaloClient

log = logging.getLogger(__name__)

PAUSE_FIRST, PAUSE_CAP = 2.0, 60.0  # seconds a failing OA's sends are held back; doubles while it fails
SLOW_SECONDS = 1.0  # a send in flight this long: the OA is hanging, do not send it another meanwhile
MAX_IN_FLIGHT = 2  # a commune's sends under way at once per process (a send takes ~0.1 s: 20 a second)
SLOT_WAIT = 0.2  # how long a send waits for one of those before it is put back as a retry
_CITIZENS = Citizen.__table__
_COMMUNE_OF = select(_CITIZENS.c.commune_id).where(_CITIZENS.c.zalo_id == bindparam("zalo_id"))
_KNOWN_LIMIT = 100_000  # citizens whose commune is remembered (it never changes)


@dataclass
class _Health:
    failures: int = 0
    paused_until: float = 0.0
    in_flight: dict[int, float] = field(default_factory=dict)  # thread id -> time.monotonic() at its start
    slots: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(MAX_IN_FLIGHT))
    last_error: str = ""


class CommuneClients:
    """A ZaloClient-like router: `.send(user_id, reply)` through the citizen's commune's OA."""

    def __init__(self, settings: Settings, database: Database, registry: CommuneRegistry,
                 default: Callable[[], Any]):
        self.settings, self.database, self.registry = settings, database, registry
        self._default = default  # the environment's client (citizens without a commune)
        self._clients: dict[int, tuple[CommuneInfo, ZaloClient]] = {}
        self._health: dict[int, _Health] = {}
        self._known: dict[str, int | None] = {}
        self._lock = threading.Lock()

    def settings_for(self, commune: CommuneInfo) -> Settings:
        """The service's settings with this commune's OA in place of the environment's."""
        return replace(self.settings, zalo_app_id=commune.app_id, zalo_app_secret=commune.app_secret,
                       zalo_oa_secret_key=commune.oa_secret_key, zalo_access_token="", zalo_refresh_token="")

    def commune_of(self, zalo_id: str) -> int | None:
        """The commune id of a citizen (None: the environment's commune, or unknown)."""
        if zalo_id in self._known:
            return self._known[zalo_id]
        with self.database.engine.connect() as conn:
            found = conn.execute(_COMMUNE_OF, {"zalo_id": zalo_id}).scalar()
        if len(self._known) >= _KNOWN_LIMIT:
            self._known.clear()
        self._known[zalo_id] = found
        return found

    def client(self, commune_id: int) -> ZaloClient | None:
        """The commune's client, rebuilt when its record changed; None when it is unknown."""
        commune = self.registry.by_id(commune_id)
        if commune is None:
            return None
        with self._lock:
            held = self._clients.get(commune_id)
            if held is None or held[0] != commune:
                tokens = CommuneTokenStore(self.database, commune_id)
                held = (commune, ZaloClient(self.settings_for(commune), tokens))
                self._clients[commune_id] = held
            return held[1]

    def send(self, user_id: str, reply: Reply) -> SendResult:
        """Send through the citizen's commune's OA; a paused or hanging OA answers "retry" at once."""
        commune_id = self.commune_of(user_id)
        if commune_id is None:
            return self._default().send(user_id, reply)
        client = self.client(commune_id)
        if client is None:
            return SendResult("permanent", None, "Xã của công dân không còn trong hệ thống")
        held = self._hold(commune_id)
        if held is not None:
            return held
        try:
            result = client.send(user_id, reply)
        except Exception as exc:
            result = SendResult("retry", None, f"{type(exc).__name__}: {exc}")
        self._release(commune_id, result)
        return result

    def _hold(self, commune_id: int) -> SendResult | None:
        now = time.monotonic()
        with self._lock:
            health = self._health.setdefault(commune_id, _Health())
            if now < health.paused_until:
                return SendResult("retry", None, f"OA của xã tạm dừng gửi sau lỗi: {health.last_error}")
            if any(now - started > SLOW_SECONDS for started in health.in_flight.values()):
                return SendResult("retry", None, "OA của xã đang chậm, chờ tin trước rồi gửi lại")
        if not health.slots.acquire(timeout=SLOT_WAIT):
            return SendResult("retry", None, "OA của xã đang bận gửi tin khác, gửi lại sau")
        with self._lock:
            health.in_flight[threading.get_ident()] = time.monotonic()
        return None

    def _release(self, commune_id: int, result: SendResult) -> None:
        with self._lock:
            health = self._health[commune_id]
            health.in_flight.pop(threading.get_ident(), None)
            health.slots.release()
            if result.status == "retry":
                pause = min(PAUSE_CAP, PAUSE_FIRST * 2 ** health.failures)
                health.failures += 1
                health.paused_until, health.last_error = time.monotonic() + pause, result.message
                log.warning("commune %s: OA failing (%s); its sends paused %.0f s", commune_id, result.message, pause)
            elif result.status in ("sent", "permanent", "night", "unknown"):
                health.failures, health.paused_until = 0, 0.0
