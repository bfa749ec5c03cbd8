"""A commune's token pair in its communes row, with a refresh lock of its own (one OA never waits on another)."""
from __future__ import annotations

import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import select, text, update

from webhooks.storage.engine import Database
from webhooks.storage.models import Commune
from webhooks.zalo.tokens import SqlTokenStore, TokenPair, _aware, _utc

_C = Commune.__table__


class CommuneTokenStore(SqlTokenStore):
    """SqlTokenStore over one commune's row: its own cache, advisory lock key and lock file."""

    def __init__(self, database: Database, commune_id: int, lock_path: Path | None = None):
        self.commune_id = commune_id
        super().__init__(database, lock_path)
        self.lock_key = zlib.crc32(f"zalo-oa-token-refresh:{commune_id}".encode())

    def _default_lock_path(self) -> Path | None:
        shared = super()._default_lock_path()
        return shared.with_name(f"{shared.name}.{self.commune_id}") if shared is not None else None

    def _read(self) -> TokenPair | None:
        with self.database.engine.connect() as conn:
            row = conn.execute(select(_C.c.access_token, _C.c.refresh_token, _C.c.token_expires_at)
                               .where(_C.c.id == self.commune_id)).first()
        if row is None or not row.access_token:
            return None
        return TokenPair(row.access_token, row.refresh_token, _aware(row.token_expires_at))

    def save(self, pair: TokenPair) -> None:
        """Replace the commune's pair; committed when this returns."""
        with self.database.transaction() as conn:
            conn.execute(update(_C).where(_C.c.id == self.commune_id).values(
                access_token=pair.access_token, refresh_token=pair.refresh_token,
                token_expires_at=_utc(pair.expires_at)))
        self.invalidate()

    def seed(self, access_token: str, refresh_token: str) -> bool:
        """Nothing to seed: the pair was stored with the commune (`communes add`/`oa`)."""
        return False

    @contextmanager
    def _advisory_lock(self) -> Iterator[None]:
        with self.database.engine.connect() as conn, conn.begin():
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": self.lock_key})
            yield
