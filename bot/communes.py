"""Engines for many communes: the province's engine shared, one small engine per commune layered over it.

Each layer is reloaded on its own: an edit of communes/<slug>/commune.yaml rebuilds that commune's
engine only; an edit of the province catalog reloads the province's engine, and each commune's
engine is rebuilt over it on its next use. A layer that does not load keeps its commune on the
previous version (its error kept in `errors`, named by commune, file and line).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from bot.catalog import CatalogError
from bot.dialogue import Engine
from bot.overlay import load_overlay, overlay_path

log = logging.getLogger(__name__)


class CommuneUnavailable(RuntimeError):
    """A commune's layer has never loaded: there is no version of its engine to serve."""

    def __init__(self, slug: str, error: CatalogError):
        super().__init__(f"xã {slug}: lớp dữ liệu riêng có lỗi\n{error}")
        self.slug, self.error = slug, error


@dataclass
class _Built:
    base: Engine  # the province's engine it was layered over
    stamp: tuple[int, int]  # its file's (mtime_ns, size) when read
    engine: Engine
    checked: float  # time.monotonic() of the last look at its file


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


class CommuneEngines:
    """`get()` is the province's engine (the single-commune set-up's); `for_commune(slug)` a commune's."""

    def __init__(self, base: Any, communes_dir: Path, check_every: float = 1.0):
        self.base = base  # an EngineHolder (anything with .get() -> Engine)
        self.communes_dir = Path(communes_dir)
        self.check_every = check_every
        self.errors: dict[str, CatalogError] = {}
        self._built: dict[str, _Built] = {}
        self._lock = threading.Lock()

    @property
    def last_error(self) -> CatalogError | None:
        """The province catalog's rejected edit, if any."""
        return getattr(self.base, "last_error", None)

    def get(self, *, fresh: bool = False) -> Engine:
        """The province's engine (reloaded if its files changed)."""
        return self.base.get(fresh=True) if fresh else self.base.get()

    def for_commune(self, slug: str, *, fresh: bool = False) -> Engine:
        """Commune `slug`'s engine, rebuilt first if its layer or the province catalog changed.

        Raises CommuneUnavailable when its layer has never loaded.
        """
        base = self.get(fresh=fresh)
        built, now = self._built.get(slug), time.monotonic()
        if (built is not None and built.base is base and not fresh
                and now - built.checked < self.check_every):
            return built.engine
        path = overlay_path(self.communes_dir, slug)
        stamp = _stamp(path)
        if built is not None and built.base is base and built.stamp == stamp:
            built.checked = now
            return built.engine
        with self._lock:  # one build at a time: a layer over a shared engine takes milliseconds
            return self._build(slug, base, path, stamp)

    def _build(self, slug: str, base: Engine, path: Path, stamp: tuple[int, int]) -> Engine:
        built = self._built.get(slug)
        if built is not None and built.base is base and built.stamp == stamp:
            return built.engine  # another thread built it while this one waited
        try:
            engine = Engine(load_overlay(path, base.catalog), base.thresholds, shared=base)
        except CatalogError as exc:
            self.errors[slug] = exc
            if built is None:
                log.error("commune %s: layer rejected, nothing to serve:\n%s", slug, exc)
                raise CommuneUnavailable(slug, exc) from exc
            log.error("commune %s: layer rejected, still serving version %s:\n%s", slug,
                      built.engine.catalog.version, exc)
            engine = built.engine
        else:
            self.errors.pop(slug, None)
            if built is not None:
                log.info("commune %s: reloaded, version %s", slug, engine.catalog.version)
        self._built[slug] = _Built(base, stamp, engine, time.monotonic())
        return engine

    def preload(self, slugs: Iterable[str]) -> dict[str, CatalogError]:
        """Build every named commune's engine now; the layers that did not load, by commune."""
        failed = {}
        for slug in slugs:
            try:
                self.for_commune(slug, fresh=True)
            except CommuneUnavailable as exc:
                failed[slug] = exc.error
        return failed

    def loaded(self) -> dict[str, Engine]:
        """The commune engines built so far, by slug."""
        return {slug: built.engine for slug, built in self._built.items()}
