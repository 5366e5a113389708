"""The ticketing service's composition root: ``SERVICE`` for the ``c360`` CLI.

``c360 api ticketing`` serves the HTTP API (port 8002), ``c360 relay ticketing`` publishes the
outbox to ``ticketing.events``, ``c360 worker ticketing scheduler`` runs the SLA and
unknown-customer sweeps, and ``c360 worker ticketing customer-replica`` consumes ``customer.events``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import FastAPI

from services.ticketing.adapters.readmodel import PostgresReadModel
from services.ticketing.api.app import create_app, ticketing_policy
from services.ticketing.application import scheduler as sla
from services.ticketing.application.importing import Importer
from services.ticketing.application.ports import ReadModel
from services.ticketing.config import TicketingSettings
from services.ticketing.consumers.customers import TOPICS, CustomerReplicaProjector, WithoutPersonalData
from shared.clock import Clock, SystemClock
from shared.consuming.streams import ProjectionWorker
from shared.importing.ledger import MIGRATIONS as IMPORT_TABLES
from shared.ops.service import ServiceDefinition
from shared.store.db import create_pool
from shared.store.eventstore import EventStore
from shared.store.uow import RowsFactory

EVENTS_TOPIC = "ticketing.events"
ROWS_FACTORY: RowsFactory[ReadModel] = PostgresReadModel
"""The command handlers' read model on a unit of work's connection (typed: mypy checks it is a ``ReadModel``)."""


def event_store(settings: TicketingSettings) -> EventStore:
    """The service's event store, publishing to its (prefixed) ``ticketing.events`` topic."""
    return EventStore(service="ticketing", topic=settings.topic(EVENTS_TOPIC))


def build_app(settings: TicketingSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The HTTP app with its event store; its metrics report the customer replica's consumer lag."""
    settings = settings or TicketingSettings()
    return create_app(settings, store=event_store(settings), rows_factory=ROWS_FACTORY,
                      consumer_groups=[CustomerReplicaProjector.name], clock=clock)


async def run_scheduler(settings: TicketingSettings, stop: asyncio.Event) -> None:
    """Emit SlaBreached/TicketEscalated when targets pass; close tickets of customers that never appeared."""
    pool = await create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        await sla.run_scheduler(
            pool,
            event_store(settings),
            SystemClock(),
            stop,
            interval_seconds=settings.ticketing_scheduler_interval_seconds,
            unverified_grace=settings.unverified_grace,
        )
    finally:
        await pool.close()


async def run_customer_replica(settings: TicketingSettings, stop: asyncio.Event) -> None:
    """Consume ``customer.events`` into the customer replica (merges, erasure, account managers)."""
    worker = ProjectionWorker(
        settings=settings,
        dsn=settings.database_url,
        projector=CustomerReplicaProjector(event_store(settings)),
        topics=TOPICS,
        keys=WithoutPersonalData(),
    )
    await worker.run(stop)


SERVICE: ServiceDefinition[TicketingSettings] = ServiceDefinition(
    name="ticketing",
    settings_factory=TicketingSettings,
    app_factory=build_app,
    migrations=Path(__file__).parent / "migrations",
    shared_migrations=[IMPORT_TABLES],
    produces=EVENTS_TOPIC,
    workers={"scheduler": run_scheduler, "customer-replica": run_customer_replica},
)


async def open_importer(settings: TicketingSettings | None = None) -> Importer:
    """The import use case on the configured database (``TICKETING_DATABASE_URL``), publishing to its topic.

    ``c360 import`` opens it by name (``shared.importing.runner``), like ``c360 api`` finds the app.
    """
    settings = settings or TicketingSettings()
    return Importer(await create_pool(settings.database_url, min_size=1, max_size=4), event_store(settings),
                    ticketing_policy(settings))
