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
from services.analytics.config import SWAP_CHANNEL, AnalyticsSettings
from services.analytics.console import console_router
from shared.clock import Clock, SystemClock
from shared.db import connect, create_pool
from shared.eventstore import EventStore
from shared.web import create_service_app, kafka_check, postgres_check


def create_app(
    config: AnalyticsSettings, *, store: EventStore, consumer_groups: Sequence[str], clock: Clock | None = None
) -> FastAPI:
    """Build the app from what ``bootstrap.py`` made; the pool is created by the lifespan, inside the running loop.

    ``consumer_groups`` are the service's Kafka consumers whose lag the app's metrics report.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await create_pool(
            config.read_model_dsn, min_size=config.db_pool_min, max_size=config.db_pool_max, reset_session=False
        )
        app.state.rules = config.rules
        # Webhook subscriptions change through the unit of work (idempotency keys, If-Match).
        app.state.store = store
        app.state.clock = clock or SystemClock()
        listener = await connect(config.database_url)

        def swapped(*_: object) -> None:
            # pooled connections hold prepared statements bound to the retired tables
            asyncio.get_running_loop().create_task(app.state.pool.expire_connections())

        await listener.add_listener(SWAP_CHANNEL, swapped)
        try:
            yield
        finally:
            await listener.close()
            await app.state.pool.close()

    app = create_service_app(
        settings=config,
        title="Customer 360: analytics service",
        description="The 360° customer view, its timeline and time travel, segments, lifecycle, churn "
        "risk, CLV, recommendations and KPIs, projected from every domain's events.",
        version="1.0.0",
        routers=[router, webhooks_router, alerts_router, console_router()],
        lifespan=lifespan,
        readiness={
            "postgres": postgres_check(lambda app: app.state.pool),
            "kafka": kafka_check(config.kafka_bootstrap_servers),
        },
        consumer_groups=consumer_groups,
    )
    app.state.metrics_refreshers.append(business_metrics_refresher(app.state.metrics_registry))
    return app
