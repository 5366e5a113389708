"""The customer service's HTTP app. Run it with ``c360 api customer`` (port 8001)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI, Request

from services.customer.api.export_jobs import export_jobs_router
from services.customer.api.imports import router as imports_router
from services.customer.api.notes import router as notes_router
from services.customer.api.routes import router
from services.customer.application.ports import ExportParts, ReadModel
from services.customer.config import CustomerSettings
from shared.clock import Clock, SystemClock
from shared.privacy.keyaccess import keys_router
from shared.store.eventstore import EventStore
from shared.store.uow import RowsFactory
from shared.web import create_service_app
from shared.web.app import database_lifespan, platform_readiness
from shared.web.audit import AuditGatherer, audit_router


def create_app(
    settings: CustomerSettings,
    *,
    store: EventStore,
    audit: AuditGatherer,
    consumer_groups: Sequence[str],
    rows_factory: RowsFactory[ReadModel],
    export_parts: ExportParts,
    clock: Clock | None = None,
) -> FastAPI:
    """Build the app from what ``bootstrap.py`` made; the pool is created by the lifespan, inside the running loop.

    ``audit`` gathers a customer's access trail from the other services; ``consumer_groups`` are the
    service's Kafka consumers whose lag the app's metrics report; ``rows_factory`` builds the read
    model the command handlers work with, on each unit of work's connection; ``export_parts`` asks the
    other services for their parts of an export.
    """

    def audit_gatherer(request: Request) -> AuditGatherer:
        return audit

    return create_service_app(
        settings=settings,
        title="Customer 360: customer service",
        description="Customer profiles, identity, consent, orders, invoices, payments and privacy.",
        version="1.0.0",
        routers=[router, keys_router(), imports_router, notes_router, audit_router(audit_gatherer),
                 export_jobs_router(settings)],
        lifespan=database_lifespan(settings.database_url, settings,
                                   state={"store": store, "clock": clock or SystemClock(),
                                          "rows_factory": rows_factory, "export_parts": export_parts}),
        readiness=platform_readiness(settings),
        consumer_groups=consumer_groups,
    )
