"""The campaigns service's HTTP app. Run it with ``c360 api campaigns`` (port 8003)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from services.campaigns.api.imports import router as imports_router
from services.campaigns.api.metrics import sent_messages_refresher
from services.campaigns.api.policy import router as policy_router
from services.campaigns.api.routes import router
from services.campaigns.api.service_messages import router as service_messages_router
from services.campaigns.application.engine import Engine
from services.campaigns.application.ports import ReadModel
from services.campaigns.config import CampaignsSettings
from shared.clock import Clock, SystemClock
from shared.privacy.keyaccess import keys_router
from shared.store.eventstore import EventStore
from shared.store.uow import RowsFactory
from shared.web import create_service_app
from shared.web.app import database_lifespan, platform_readiness


def create_app(
    settings: CampaignsSettings,
    *,
    store: EventStore,
    engine: Engine,
    consumer_groups: Sequence[str],
    rows_factory: RowsFactory[ReadModel],
    clock: Clock | None = None,
) -> FastAPI:
    """Build the app from what ``bootstrap.py`` made; the pool is created by the lifespan, inside the running loop.

    ``engine`` sends the surveys asked for through the API (its outbox, topics and marketing policy);
    ``consumer_groups`` are the service's Kafka consumers whose lag the app's metrics report;
    ``rows_factory`` builds the command handlers' read model on each unit of work's connection.
    """

    app = create_service_app(
        settings=settings,
        title="Customer 360: campaigns service",
        description="Event-based marketing: campaigns, offers, budgets, control groups and surveys.",
        version="1.0.0",
        routers=[router, policy_router, service_messages_router, keys_router(), imports_router],
        lifespan=database_lifespan(settings.database_url, settings, state={
            "store": store, "engine": engine, "clock": clock or SystemClock(), "rows_factory": rows_factory,
        }),
        readiness=platform_readiness(settings),
        consumer_groups=consumer_groups,
    )
    app.state.metrics_refreshers.append(sent_messages_refresher(app.state.metrics_registry))
    return app
