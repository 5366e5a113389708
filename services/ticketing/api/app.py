"""The ticketing service's HTTP app. Run it with ``c360 api ticketing`` (port 8002)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

from services.ticketing.api.imports import router as imports_router
from services.ticketing.api.metrics import ticketing_metrics
from services.ticketing.api.routes import router
from services.ticketing.application.handlers import TicketingPolicy
from services.ticketing.config import TicketingSettings
from shared.clock import Clock, SystemClock
from shared.privacy.keyaccess import keys_router
from shared.store.eventstore import EventStore
from shared.store.uow import RowsFactory
from shared.web import create_service_app
from shared.web.app import database_lifespan, platform_readiness


def ticketing_policy(settings: TicketingSettings) -> TicketingPolicy:
    """The rules and SLA policy configured for this deployment."""
    return TicketingPolicy(rules=settings.rules, sla=settings.sla_policy)


def create_app(
    settings: TicketingSettings,
    *,
    store: EventStore,
    rows_factory: RowsFactory[Any],
    consumer_groups: Sequence[str],
    clock: Clock | None = None,
) -> FastAPI:
    """Build the app from what ``bootstrap.py`` made; the pool is created by the lifespan, inside the running loop.

    ``rows_factory`` builds the command handlers' read model on each unit of work's connection;
    ``consumer_groups`` are the service's Kafka consumers whose lag the app's metrics report.
    """

    app = create_service_app(
        settings=settings,
        title="Customer 360: ticketing service",
        description="Complaints and support tickets: an owner from the first contact, SLA clocks, escalation, "
        "conversation history and root cause.",
        version="1.0.0",
        routers=[router, keys_router(), imports_router],
        lifespan=database_lifespan(settings.database_url, settings, state={
            "store": store, "rows_factory": rows_factory, "clock": clock or SystemClock(),
            "policy": ticketing_policy(settings),
        }),
        readiness=platform_readiness(settings),
        consumer_groups=consumer_groups,
    )
    app.state.ticket_metrics = ticketing_metrics(app.state.metrics_registry)
    return app
