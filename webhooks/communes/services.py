"""What the service holds for many communes: the registry, their engines over the shared one, their clients."""
from __future__ import annotations

from typing import Any

from bot.communes import CommuneEngines
from webhooks.communes.clients import CommuneClients
from webhooks.communes.registry import CommuneRegistry


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
