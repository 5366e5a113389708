"""The analytics service's HTTP app. Run it with ``c360 api analytics`` (port 8004)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.analytics.api.alerts import router as alerts_router
from services.analytics.api.metrics import business_metrics_refresher
from services.analytics.api.routes import router
from services.analytics.api.webhooks import router as webhooks_router
from services.analytics.application.ports import ReadModel
from services.analytics.config import SWAP_CHANNEL, AnalyticsSettings
from services.analytics.console import console_router
from shared.clock import Clock, SystemClock
from shared.store.db import connect
from shared.store.eventstore import EventStore
from shared.store.uow import RowsFactory
from shared.web import create_service_app
from shared.web.app import database_lifespan, platform_readiness


def create_app(
    settings: AnalyticsSettings,
    *,
    store: EventStore,
    consumer_groups: Sequence[str],
    rows_factory: RowsFactory[ReadModel],
    clock: Clock | None = None,
) -> FastAPI:
    """Build the app from what ``bootstrap.py`` made; the pool is created by the lifespan, inside the running loop.

    ``consumer_groups`` are the service's Kafka consumers whose lag the app's metrics report;
    ``rows_factory`` builds the command handlers' read model on a unit of work's connection.
    """

    @asynccontextmanager
    async def reload_after_swaps(app: FastAPI) -> AsyncIterator[None]:
        listener = await connect(settings.database_url)

        def swapped(*_: object) -> None:
            # pooled connections hold prepared statements bound to the retired tables
            asyncio.get_running_loop().create_task(app.state.pool.expire_connections())

        await listener.add_listener(SWAP_CHANNEL, swapped)
        try:
            yield
        finally:
            await listener.close()

    app = create_service_app(
        settings=settings,
        title="Customer 360: analytics service",
        description="The 360° customer view, its timeline and time travel, segments, lifecycle, churn "
        "risk, CLV, recommendations and KPIs, projected from every domain's events.",
        version="1.0.0",
        routers=[router, webhooks_router, alerts_router, console_router()],
        # Webhook subscriptions and alert acknowledgements change through the unit of work (idempotency keys,
        # If-Match): hence the store and the read model's factory.
        lifespan=database_lifespan(settings.read_model_dsn, settings, then=reload_after_swaps, state={
            "rules": settings.rules, "store": store, "clock": clock or SystemClock(), "rows_factory": rows_factory,
        }),
        readiness=platform_readiness(settings),
        consumer_groups=consumer_groups,
    )
    app.state.metrics_refreshers.append(business_metrics_refresher(app.state.metrics_registry))
    return app
