"""The commune registry: rows of the communes table, read through a short in-process cache.

No rows: the single-commune set-up (the environment's OA and procedures.yaml), and every lookup
answers None. Secrets are stored as given (see models.Commune); only the CLI writes them.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.text import fold
from webhooks.storage.engine import Database
from webhooks.storage.models import Commune, utcnow

CACHE_SECONDS = 5.0  # a commune added or disabled by the CLI is seen by every process within this
_C = Commune.__table__
_FIELDS = ("id", "slug", "name", "province", "oa_id", "app_id", "app_secret", "oa_secret_key", "enabled")
SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class RegistryError(ValueError):
    """A refused change of the registry, with a message fit to show the admin."""


@dataclass(frozen=True)
class CommuneInfo:
    """A commune's record without its token pair (which lives with its token store)."""

    id: int
    slug: str
    name: str
    province: str
    oa_id: str | None
    app_id: str
    app_secret: str
    oa_secret_key: str
    enabled: bool

    @property
    def has_oa(self) -> bool:
        """True once its OA id, app id and secrets are filled in."""
        return bool(self.oa_id and self.app_id and self.app_secret and self.oa_secret_key)


def slugify(name: str) -> str:
    """`Phường Hải Châu` -> `phuong-hai-chau`."""
    return "-".join(re.findall(r"[a-z0-9]+", fold(name)))


def payload_oa_ids(payload: dict[str, Any]) -> list[str]:
    """The ids in a webhook payload that may be the OA's (oa_id, recipient for citizens' events, sender for echoes)."""
    found = [payload.get("oa_id")]
    for side in ("recipient", "sender"):
        part = payload.get(side)
        if isinstance(part, dict):
            found.append(part.get("id"))
    return [str(v) for v in found if isinstance(v, (str, int)) and not isinstance(v, bool) and str(v)]


class CommuneRegistry:
    """Lookups by slug, OA id and id over every row, refreshed every CACHE_SECONDS."""

    def __init__(self, database: Database, cache_seconds: float = CACHE_SECONDS):
        self.database, self.cache_seconds = database, cache_seconds
        self._lock = threading.Lock()
        self._until = 0.0
        self._by_id: dict[int, CommuneInfo] = {}
        self._by_slug: dict[str, CommuneInfo] = {}
        self._by_oa: dict[str, CommuneInfo] = {}

    def _fresh(self) -> None:
        if time.monotonic() < self._until:
            return
        with self._lock:
            if time.monotonic() < self._until:
                return
            with self.database.engine.connect() as conn:
                rows = [CommuneInfo(**row._asdict()) for row in conn.execute(select(*(_C.c[f] for f in _FIELDS)))]
            self._by_id = {c.id: c for c in rows}
            self._by_slug = {c.slug: c for c in rows}
            self._by_oa = {c.oa_id: c for c in rows if c.oa_id}
            self._until = time.monotonic() + self.cache_seconds

    def forget(self) -> None:
        """Read the table again on the next lookup."""
        self._until = 0.0

    def all(self) -> list[CommuneInfo]:
        """Every commune, by slug."""
        self._fresh()
        return sorted(self._by_id.values(), key=lambda c: c.slug)

    def any(self) -> bool:
        """True when the deployment has commune records (the multi-commune set-up)."""
        self._fresh()
        return bool(self._by_id)

    def by_id(self, commune_id: int) -> CommuneInfo | None:
        """The commune with this id."""
        self._fresh()
        return self._by_id.get(commune_id)

    def by_slug(self, slug: str) -> CommuneInfo | None:
        """The commune with this slug."""
        self._fresh()
        return self._by_slug.get(slug)

    def by_payload(self, payload: dict[str, Any]) -> CommuneInfo | None:
        """The commune whose OA id a webhook payload names, if any."""
        self._fresh()
        if not self._by_oa:
            return None
        return next((self._by_oa[i] for i in payload_oa_ids(payload) if i in self._by_oa), None)


def add_commune(database: Database, *, slug: str, name: str, province: str = "", oa_id: str | None = None,
                app_id: str = "", app_secret: str = "", oa_secret_key: str = "", access_token: str = "",
                refresh_token: str = "", enabled: bool = True) -> int:
    """Insert a commune; its id. RegistryError on a bad or taken slug or OA id."""
    if not SLUG.match(slug):
        raise RegistryError(f"Mã xã không hợp lệ: {slug!r} (chữ thường không dấu, số, gạch nối)")
    if not name.strip():
        raise RegistryError("Thiếu tên xã")
    try:
        with database.transaction() as conn:
            return conn.execute(_C.insert().returning(_C.c.id), {
                "slug": slug, "name": name.strip(), "province": province.strip(), "oa_id": oa_id or None,
                "app_id": app_id, "app_secret": app_secret, "oa_secret_key": oa_secret_key,
                "access_token": access_token, "refresh_token": refresh_token, "enabled": enabled,
                "created_at": utcnow()}).scalar_one()
    except IntegrityError as exc:
        raise RegistryError(f"Mã xã {slug!r} hoặc OA {oa_id!r} đã có") from exc


def set_oa(database: Database, slug: str, *, oa_id: str, app_id: str, app_secret: str, oa_secret_key: str,
           access_token: str, refresh_token: str) -> None:
    """Give a commune its OA (a new pair: the token expiry is forgotten)."""
    _update(database, slug, oa_id=oa_id, app_id=app_id, app_secret=app_secret, oa_secret_key=oa_secret_key,
            access_token=access_token, refresh_token=refresh_token, token_expires_at=None)


def set_enabled(database: Database, slug: str, enabled: bool) -> None:
    """Enable or disable a commune (a disabled one's events are acknowledged and dropped)."""
    _update(database, slug, enabled=enabled)


def _update(database: Database, slug: str, **values: Any) -> None:
    try:
        with database.transaction() as conn:
            if not conn.execute(update(_C).where(_C.c.slug == slug).values(**values)).rowcount:
                raise RegistryError(f"Không có xã {slug!r}")
    except IntegrityError as exc:
        raise RegistryError(f"OA {values.get('oa_id')!r} đã thuộc xã khác") from exc


def import_rows(database: Database, rows: Iterable[dict[str, str]]) -> list[str]:
    """Add communes (disabled until their OA is set) from CSV rows with name and province; their slugs.

    All or nothing: a bad row names its line and nothing is added.
    """
    items = []
    for n, row in enumerate(rows, 2):  # line 1 is the header
        name, province = (row.get("name") or "").strip(), (row.get("province") or "").strip()
        slug = (row.get("slug") or "").strip() or slugify(name)
        if not name or not SLUG.match(slug):
            raise RegistryError(f"dòng {n}: thiếu tên xã hoặc mã xã không hợp lệ ({slug!r})")
        items.append({"slug": slug, "name": name, "province": province, "oa_id": None, "app_id": "",
                      "app_secret": "", "oa_secret_key": "", "access_token": "", "refresh_token": "",
                      "enabled": False, "created_at": utcnow()})
    seen: dict[str, int] = {}
    for n, item in enumerate(items, 2):
        if item["slug"] in seen:
            raise RegistryError(f"dòng {n}: mã xã {item['slug']!r} trùng dòng {seen[item['slug']]}")
        seen[item["slug"]] = n
    try:
        with database.transaction() as conn:
            if items:
                conn.execute(_C.insert(), items)
    except IntegrityError as exc:
        raise RegistryError("Có mã xã đã có trong hệ thống; không thêm xã nào") from exc
    return [item["slug"] for item in items]
