"""The analytics service's composition root: ``SERVICE`` for the ``c360`` CLI.

``c360 api analytics`` serves the HTTP API (port 8004), ``c360 relay analytics`` publishes the
signals to ``analytics.events``, ``c360 worker analytics projector`` consumes every domain topic into
the read models, ``c360 worker analytics sweep`` evaluates the time-based rules periodically, ``c360 worker analytics
webhooks`` routes every topic's events to webhook subscriptions and delivers them (docs/webhooks.md),
``c360 worker analytics alerts`` raises account managers' alerts (docs/analytics-rules.md),
and ``python -m services.analytics.rebuild`` rebuilds the read models from the topics.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from services.analytics.adapters.readmodel import PostgresReadModel
from services.analytics.adapters.webhooks import HttpSender, KafkaRecordSource
from services.analytics.api.app import create_app
from services.analytics.application.ports import ReadModel
from services.analytics.application.sweep import run_sweeps
from services.analytics.application.webhooks import DeliveryWorker, ReplayRunner
from services.analytics.config import AnalyticsSettings
from services.analytics.consumers.alerts import AlertRouter
from services.analytics.consumers.projector import CONSUMED_TOPICS, PROJECTOR_NAME, AnalyticsProjector
from services.analytics.consumers.webhooks import WebhookRouter
from services.analytics.domain.webhooks import RetryPolicy
from shared.clock import Clock, SystemClock
from shared.ops.service import ServiceDefinition
from shared.privacy.keyaccess import key_provider_for
from shared.settings import PlatformSettings
from shared.store.db import create_pool
from shared.store.eventstore import EventStore
from shared.store.uow import RowsFactory

if TYPE_CHECKING:
    from shared.consuming.streams import ProjectionWorker

EVENTS_TOPIC = "analytics.events"
WEBHOOK_TOPICS = (*CONSUMED_TOPICS, EVENTS_TOPIC)
"""Webhooks are fed from every domain topic, analytics' own signals included."""
ALERT_TOPICS = (*CONSUMED_TOPICS, EVENTS_TOPIC)
"""Alerts read the domain topics and analytics' own signals (churn band, high value)."""


ROWS_FACTORY: RowsFactory[ReadModel] = PostgresReadModel
"""The command handlers' read model on a unit of work's connection (typed: mypy proves it is a ``ReadModel``)."""


def event_store(settings: PlatformSettings) -> EventStore:
    """Analytics' own event store: the signals, published to ``analytics.events``."""
    return EventStore(service="analytics", topic=settings.topic(EVENTS_TOPIC))


def build_app(settings: AnalyticsSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The HTTP app with its event store (webhook subscriptions change through the unit of work); its
    metrics report the 360 projector's consumer lag."""
    settings = settings or AnalyticsSettings()
    return create_app(settings, store=event_store(settings), consumer_groups=[PROJECTOR_NAME],
                      rows_factory=ROWS_FACTORY, clock=clock)


def projector_worker(settings: AnalyticsSettings, *, batch_size: int | None = None) -> ProjectionWorker:
    """The Faust worker running the 360 projector over every domain topic."""
    from shared.consuming.streams import ProjectionWorker

    keys = key_provider_for(settings, ["customer", "ticketing", "campaigns"], caller="analytics")
    return ProjectionWorker(
        settings=settings,
        dsn=settings.read_model_dsn,
        projector=AnalyticsProjector(rules=settings.rules, store=event_store(settings)),
        topics=CONSUMED_TOPICS,
        batch_size=batch_size or settings.analytics_batch_size,
        keys=keys,
    )


async def run_projector(settings: AnalyticsSettings, stop: asyncio.Event) -> None:
    """Consume customer, ticketing and campaigns events into the read models until stopped."""
    worker = projector_worker(settings)
    await worker.run(stop)


async def run_sweep(settings: AnalyticsSettings, stop: asyncio.Event) -> None:
    """Re-evaluate the time-based rules every ``ANALYTICS_SWEEP_INTERVAL_SECONDS``."""
    pool = await create_pool(settings.read_model_dsn, min_size=1, max_size=2)
    try:
        await run_sweeps(
            pool,
            clock=SystemClock(),
            rules=settings.rules,
            store=event_store(settings),
            interval=settings.analytics_sweep_interval_seconds,
            stop=stop,
            page=settings.analytics_sweep_batch,
        )
    finally:
        await pool.close()


def webhook_router_worker(settings: AnalyticsSettings, *, keys: Any = None) -> ProjectionWorker:
    """The Faust worker routing every topic's events to webhook subscriptions (deliveries table)."""
    from shared.consuming.streams import ProjectionWorker

    return ProjectionWorker(settings=settings, dsn=settings.read_model_dsn, projector=WebhookRouter(),
                            topics=WEBHOOK_TOPICS, batch_size=500, keys=keys)


def webhook_delivery(settings: AnalyticsSettings, pool: Any, *, keys: Any = None,
                     clock: Clock | None = None) -> tuple[DeliveryWorker, ReplayRunner, HttpSender]:
    """The delivery loop, its replay runner and its HTTP sender, configured from the settings."""
    sender = HttpSender(timeout=settings.analytics_webhook_timeout_seconds,
                        allow_private=settings.webhook_allow_private_urls)
    clock = clock or SystemClock()
    replays = ReplayRunner(pool, source=KafkaRecordSource(settings.kafka_bootstrap_servers),
                           topics=[settings.topic(t) for t in WEBHOOK_TOPICS], clock=clock, keys=keys)
    worker = DeliveryWorker(
        pool,
        sender=sender,
        policy=RetryPolicy(initial=settings.analytics_webhook_retry_initial_seconds,
                           factor=settings.analytics_webhook_retry_factor,
                           ceiling=settings.analytics_webhook_retry_max_seconds,
                           max_attempts=settings.analytics_webhook_max_attempts),
        disable_after=settings.analytics_webhook_disable_after,
        event_store=event_store(settings),
        clock=clock,
        keys=keys,
        concurrency=settings.analytics_webhook_concurrency,
        poll_seconds=settings.analytics_webhook_poll_seconds,
        on_idle=replays.run_pending,
    )
    return worker, replays, sender


async def run_webhooks(settings: AnalyticsSettings, stop: asyncio.Event) -> None:
    """Route events to webhook subscriptions and deliver them (one delivering replica at a time)."""
    keys = key_provider_for(settings, ["customer", "ticketing", "campaigns"], caller="analytics")
    router = webhook_router_worker(settings, keys=keys)
    pool = await create_pool(settings.read_model_dsn, min_size=1, max_size=settings.analytics_webhook_concurrency + 2)
    worker, _, sender = webhook_delivery(settings, pool, keys=keys)
    try:
        await asyncio.gather(router.run(stop), worker.run(stop, listen_dsn=settings.database_url))
    finally:
        await sender.close()
        await keys.close()
        await pool.close()


def alerts_worker(settings: AnalyticsSettings, *, keys: Any = None, clock: Clock | None = None) -> ProjectionWorker:
    """The Faust worker raising account managers' alerts (``application/alerts.py`` says why apart)."""
    from shared.consuming.streams import ProjectionWorker

    router = AlertRouter(rules=settings.rules, store=event_store(settings), clock=clock)
    return ProjectionWorker(settings=settings, dsn=settings.read_model_dsn, projector=router,
                            topics=ALERT_TOPICS, batch_size=500, keys=keys)


async def run_alerts(settings: AnalyticsSettings, stop: asyncio.Event) -> None:
    """Raise alerts from every topic until stopped (the keys open birth dates for the reminders)."""
    keys = key_provider_for(settings, ["customer", "ticketing", "campaigns"], caller="analytics")
    worker = alerts_worker(settings, keys=keys)
    try:
        await worker.run(stop)
    finally:
        await keys.close()


SERVICE: ServiceDefinition[AnalyticsSettings] = ServiceDefinition(
    name="analytics",
    settings_factory=AnalyticsSettings,
    app_factory=build_app,
    migrations=Path(__file__).parent / "migrations",
    produces=EVENTS_TOPIC,
    workers={"projector": run_projector, "sweep": run_sweep, "webhooks": run_webhooks, "alerts": run_alerts},
)
