"""The customer service's composition root: ``SERVICE`` for the ``c360`` CLI.

``c360 api customer`` serves the HTTP API, ``c360 relay customer`` publishes the outbox,
``c360 worker customer scheduler`` runs the overdue-payment scheduler and
``c360 worker customer erasure-acks`` collects the other services' erasure acknowledgements.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import FastAPI

from services.customer.adapters.export_parts import HttpExportParts
from services.customer.adapters.readmodel import PostgresReadModel
from services.customer.api.app import create_app
from services.customer.application.importing import Importer
from services.customer.application.overdue import run_overdue_scheduler
from services.customer.application.ports import ReadModel
from services.customer.config import CustomerSettings
from services.customer.consumers.erasure_acks import TOPICS as ACKNOWLEDGING_TOPICS
from services.customer.consumers.erasure_acks import ErasureAcknowledgements
from shared.clock import Clock, SystemClock
from shared.consuming.streams import ProjectionWorker
from shared.importing.ledger import MIGRATIONS as IMPORT_TABLES
from shared.ops.service import ServiceDefinition
from shared.store.db import create_pool
from shared.store.eventstore import EventStore
from shared.store.uow import RowsFactory
from shared.web.audit import AuditGatherer
from shared.web.service_token import ServiceToken

EVENTS_TOPIC = "customer.events"

ROWS_FACTORY: RowsFactory[ReadModel] = PostgresReadModel
"""The read model of every unit of work the API opens (typed, so mypy proves it implements the port)."""


def event_store(settings: CustomerSettings) -> EventStore:
    """The service's event store, publishing to its (prefixed) ``customer.events`` topic."""
    return EventStore(service="customer", topic=settings.topic(EVENTS_TOPIC))


def audit_gatherer(settings: CustomerSettings) -> AuditGatherer:
    """Gathers a customer's access trail from the other services, calling them with its own token."""
    return AuditGatherer(
        service="customer",
        urls={"ticketing": settings.ticketing_api_url, "campaigns": settings.campaigns_api_url,
              "analytics": settings.analytics_api_url},
        token=ServiceToken(settings, "customer-audit"),
    )


def export_parts(settings: CustomerSettings) -> HttpExportParts:
    """Asks the other services for their parts of an export, with the customer service's own token."""
    return HttpExportParts(
        {"ticketing": settings.ticketing_api_url, "campaigns": settings.campaigns_api_url,
         "analytics": settings.analytics_api_url},
        ServiceToken(settings, "customer-exports"),
    )


def build_app(settings: CustomerSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The HTTP app with its event store and audit gatherer; its metrics report the erasure
    acknowledgements' consumer lag."""
    settings = settings or CustomerSettings()
    return create_app(settings, store=event_store(settings), audit=audit_gatherer(settings),
                      consumer_groups=[ErasureAcknowledgements.name], rows_factory=ROWS_FACTORY,
                      export_parts=export_parts(settings), clock=clock)


async def run_scheduler(settings: CustomerSettings, stop: asyncio.Event) -> None:
    """Emit ``PaymentOverdue`` for invoices unpaid past their due date, every N seconds."""
    pool = await create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        await run_overdue_scheduler(pool, event_store(settings), SystemClock(), stop,
                                    interval_seconds=settings.overdue_scan_interval_seconds)
    finally:
        await pool.close()


async def run_erasure_acks(settings: CustomerSettings, stop: asyncio.Event) -> None:
    """Mark services done in ``erasure_status`` as their ``CustomerDataErased`` arrive."""
    worker = ProjectionWorker(
        settings=settings,
        dsn=settings.database_url,
        projector=ErasureAcknowledgements(),
        topics=ACKNOWLEDGING_TOPICS,
        batch_size=500,
    )
    await worker.run(stop)


SERVICE: ServiceDefinition[CustomerSettings] = ServiceDefinition(
    name="customer",
    settings_factory=CustomerSettings,
    app_factory=build_app,
    migrations=Path(__file__).parent / "migrations",
    shared_migrations=[IMPORT_TABLES],
    produces=EVENTS_TOPIC,
    workers={"scheduler": run_scheduler, "erasure-acks": run_erasure_acks},
)


async def open_importer(settings: CustomerSettings | None = None) -> Importer:
    """The import use case on the configured database (``CUSTOMER_DATABASE_URL``), publishing to its topic.

    ``c360 import`` opens it by name (``shared.importing.runner``), like ``c360 api`` finds the app.
    """
    settings = settings or CustomerSettings()
    return Importer(await create_pool(settings.database_url, min_size=1, max_size=4), event_store(settings))
