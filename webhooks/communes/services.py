"""What the service holds for many communes: the registry, their engines over the shared one, their clients."""
from __future__ import annotations

import logging
from typing import Any

from bot.communes import CommuneEngines
from webhooks.communes.clients import CommuneClients
from webhooks.communes.registry import CommuneRegistry

log = logging.getLogger(__name__)


class CommuneServices:
    """Built once per process on first use; with no commune rows it costs one cached query."""

    def __init__(self, services: Any):
        self.registry = CommuneRegistry(services.database)
        self.engines = CommuneEngines(services.engines, services.settings.engine.communes_dir)
        self.clients = CommuneClients(services.settings, services.database, self.registry,
                                      default=lambda: services.default_client)

    def engine(self, commune_id: int) -> Any:
        """The engine of commune `commune_id` (bot.communes.CommuneUnavailable when its layer never loaded)."""
        commune = self.registry.by_id(commune_id)
        if commune is None:
            raise LookupError(f"commune {commune_id} is not in the registry")
        return self.engines.for_commune(commune.slug)

    def preload(self) -> None:
        """Build every enabled commune's engine now (before a process takes jobs); broken layers are logged."""
        try:
            slugs = [c.slug for c in self.registry.all() if c.enabled]
        except Exception:  # the database away: engines are then built on first use
            log.exception("communes: could not list communes to preload their engines")
            return
        failed = self.engines.preload(slugs)
        if slugs:
            log.info("communes: %d engines ready, %d layers with errors", len(slugs) - len(failed), len(failed))

    def name_of(self, commune_id: int | None) -> str:
        """A commune's name for staff pages; None is the environment's commune (procedures.yaml's name)."""
        if commune_id is None:
            return self.engines.get().catalog.commune.name
        commune = self.registry.by_id(commune_id)
        return commune.name if commune is not None else f"xã #{commune_id} (đã xoá)"
