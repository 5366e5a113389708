"""The ticketing service's HTTP app. Run it with ``c360 api ticketing`` (port 8002)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.ticketing.api.imports import router as imports_router
from services.ticketing.api.metrics import ticketing_metrics
from services.ticketing.api.routes import router
from services.ticketing.application.handlers import TicketingPolicy
from services.ticketing.config import TicketingSettings
from shared.clock import Clock, SystemClock
from shared.db import create_pool
from shared.eventstore import EventStore
from shared.keyaccess import keys_router
from shared.web import create_service_app, kafka_check, postgres_check


def ticketing_policy(settings: TicketingSettings) -> TicketingPolicy:
    """The rules and SLA policy configured for this deployment."""
    return TicketingPolicy(rules=settings.rules, sla=settings.sla_policy)


def create_app(
    settings: TicketingSettings, *, store: EventStore, consumer_groups: Sequence[str], clock: Clock | None = None
) -> FastAPI:
    """Build the app from what ``bootstrap.py`` made; the pool is created by the lifespan, inside the running loop.

    ``consumer_groups`` are the service's Kafka consumers whose lag the app's metrics report.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await create_pool(
            settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max,
            reset_session=False,
        )
        app.state.store = store
        app.state.clock = clock or SystemClock()
        app.state.policy = ticketing_policy(settings)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = create_service_app(
        settings=settings,
        title="Customer 360: ticketing service",
        description="Complaints and support tickets: an owner from the first contact, SLA clocks, escalation, "
        "conversation history and root cause.",
        version="1.0.0",
        routers=[router, keys_router(), imports_router],
        lifespan=lifespan,
        readiness={
            "postgres": postgres_check(lambda app: app.state.pool),
            "kafka": kafka_check(settings.kafka_bootstrap_servers),
        },
        consumer_groups=consumer_groups,
    )
    app.state.ticket_metrics = ticketing_metrics(app.state.metrics_registry)
    return app
