"""How a service describes itself to the platform's CLI and tooling.

Each ``services/<name>/bootstrap.py`` defines ``SERVICE = ServiceDefinition(...)``. The ``c360`` CLI
finds it by name (``c360 api customer``, ``c360 relay customer``, ``c360 migrate customer``) without
the shared library importing any service: services depend on ``shared``, never the reverse.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from shared.settings import ServiceSettings

SERVICE_NAMES = ("customer", "ticketing", "campaigns", "analytics")

S = TypeVar("S", bound=ServiceSettings)

BackgroundTask = Callable[[S, asyncio.Event], Awaitable[None]]
"""A long-running loop (scheduler, worker) that stops when the event is set."""


@dataclass(frozen=True)
class ServiceDefinition(Generic[S]):
    """A service's name, settings, HTTP app, migrations, produced topic and background processes.

    Generic over the service's own settings class: ``settings_factory`` builds it and every factory
    and worker receives exactly that type, so none of them has to downcast a base ``ServiceSettings``.
    """

    name: str
    settings_factory: Callable[[], S]
    app_factory: Callable[[S], Any]
    migrations: Path
    produces: str | None = None
    """The logical topic its event store publishes to (``customer.events``)."""
    workers: Mapping[str, BackgroundTask[S]] = field(default_factory=dict)
    """Named background processes: Kafka consumers and schedulers (``c360 worker <service> <name>``)."""
    shared_migrations: Sequence[tuple[str, Path]] = ()
    """``(scope, folder)`` migration sets of shared kits the service uses (``shared.importing``'s tables),
    applied after the platform's and before the service's own."""

    def migration_sets(self) -> list[tuple[str, Path]]:
        """The service's migration sets after the platform's: the shared kits' ones, then its own."""
        return [*self.shared_migrations, (self.name, self.migrations)]


def load_service(name: str) -> ServiceDefinition[Any]:
    """Import ``services.<name>.bootstrap`` and return its ``SERVICE``."""
    if name not in SERVICE_NAMES:
        raise ValueError(f"unknown service {name!r}; expected one of {', '.join(SERVICE_NAMES)}")
    module = importlib.import_module(f"services.{name}.bootstrap")
    definition: ServiceDefinition[Any] = module.SERVICE
    return definition
