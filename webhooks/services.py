"""What answering and sending need: settings, the database, the engine holder and the Zalo client."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from bot.replies import Reply
from webhooks.settings import DEMO_ACCESS_TOKEN, Settings
from webhooks.storage.engine import Database

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Built once per process; the Zalo client on first use (after fork: it opens connections)."""

    settings: Settings
    database: Database
    engines: Any = None  # bot.dialogue.EngineHolder (anything with .get() -> Engine)
    client_override: Any = None  # a ZaloClient-like object (tests)
    _client: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _communes: Any = field(default=None, repr=False)  # webhooks.communes: registry, engines, clients

    def __post_init__(self) -> None:
        if self.engines is None:
            from bot.dialogue import EngineHolder  # loads the catalog: only when nobody passed one

            self.engines = EngineHolder(self.settings.engine)

    @property
    def communes(self) -> Any:
        """The commune registry, commune engines and per-commune clients (webhooks.communes.services)."""
        if self._communes is None:
            from webhooks.communes.services import CommuneServices

            with self._lock:
                if self._communes is None:
                    self._communes = CommuneServices(self)
        return self._communes

    def engine_for(self, commune_id: int | None) -> Any:
        """The engine answering a citizen of this commune (None: the environment's commune)."""
        if commune_id is None:
            return self.engines.get()
        return self.communes.engine(commune_id)

    @property
    def client(self) -> Any:
        """The Zalo client (the console in demo mode with demo secrets); routed by commune when there are communes."""
        if self.client_override is not None:
            return self.client_override
        if self.communes.registry.any():
            return self.communes.clients
        return self.default_client

    @property
    def default_client(self) -> Any:
        """The client of the environment's OA."""
        with self._lock:
            if self._client is None:
                if self.settings.demo and self.settings.zalo_access_token == DEMO_ACCESS_TOKEN:
                    self._client = ConsoleClient()  # demo secrets cannot reach Zalo: show the replies instead
                else:
                    from webhooks.zalo.api import ZaloClient
                    from webhooks.zalo.tokens import SqlTokenStore

                    tokens = SqlTokenStore(self.database)
                    tokens.seed(self.settings.zalo_access_token, self.settings.zalo_refresh_token)
                    self._client = ZaloClient(self.settings, tokens)
            return self._client


class ConsoleClient:
    """The demo's Zalo: replies are logged (and count as sent) instead of going to the network."""

    def send(self, user_id: str, reply: Reply) -> Any:
        """Log the reply; always "sent"."""
        from webhooks.zalo.api import SendResult

        buttons = "".join(f"\n  [{b.title}] → {b.value}" for b in reply.buttons)
        log.info("DEMO reply:\n%s%s", reply.text, buttons)
        return SendResult("sent", 0, "demo", message_id=None)

    def user_detail(self, user_id: str) -> dict[str, Any] | None:
        """No profile in the demo."""
        return None
