"""The campaigns service's composition root: ``SERVICE`` for the ``c360`` CLI.

``c360 api campaigns`` serves the HTTP API (port 8003), ``c360 relay campaigns`` publishes the
outbox (``campaigns.events`` and ``campaigns.messages``), ``c360 worker campaigns engine`` runs the
campaign engine over the other domains' events and ``c360 worker campaigns timers`` fires delayed,
deferred and scheduled triggers.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from fastapi import FastAPI

from services.campaigns.adapters.readmodel import PostgresReadModel
from services.campaigns.api.app import create_app
from services.campaigns.application.engine import Engine, fire_due_timers
from services.campaigns.application.importing import Importer
from services.campaigns.application.policy import PolicySource
from services.campaigns.application.ports import ReadModel
from services.campaigns.config import CampaignsSettings
from services.campaigns.consumers.engine import CONSUMED_TOPICS, CampaignEngine
from shared.clock import Clock, SystemClock
from shared.consuming.consumer import KeyProvider
from shared.consuming.streams import ProjectionWorker
from shared.contracts.campaigns import MESSAGES_TOPIC
from shared.importing.ledger import MIGRATIONS as IMPORT_TABLES
from shared.ops.service import ServiceDefinition
from shared.privacy.keyaccess import key_provider_for
from shared.store.db import create_pool
from shared.store.eventstore import EventStore
from shared.store.periodic import run_every
from shared.store.uow import RowsFactory

EVENTS_TOPIC = "campaigns.events"

ROWS_FACTORY: RowsFactory[ReadModel] = PostgresReadModel
"""The command handlers' read model on a unit of work's connection (typed: mypy proves it is a ReadModel)."""


def event_store(settings: CampaignsSettings) -> EventStore:
    """The service's event store, publishing to its (prefixed) ``campaigns.events`` topic."""
    return EventStore(service="campaigns", topic=settings.topic(EVENTS_TOPIC))


def build_engine(settings: CampaignsSettings) -> Engine:
    """The engine with this deployment's topics, deciding with the current marketing policy (the settings
    are its defaults, version 0, until the policy is changed through the API)."""
    policy = settings.policy()
    return Engine(store=event_store(settings), messages_topic=settings.topic(MESSAGES_TOPIC), policy=policy,
                  policies=PolicySource(policy))


def build_app(settings: CampaignsSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The HTTP app with its event store and engine; its metrics report the engine's consumer lag."""
    settings = settings or CampaignsSettings()
    return create_app(settings, store=event_store(settings), engine=build_engine(settings),
                      consumer_groups=[CampaignEngine.name], rows_factory=ROWS_FACTORY, clock=clock)


def engine_worker(
    settings: CampaignsSettings, *, keys: KeyProvider | None = None, clock: Clock | None = None, batch_size: int = 1000
) -> ProjectionWorker:
    """The engine as a Faust worker over its topics (the ``engine`` process; tests start it in-process).

    ``keys`` opens the customer domain's personal fields the engine needs (the birth date for
    birthday campaigns); without it they read as unknown.
    """
    engine = dataclasses.replace(build_engine(settings), keys=keys)
    return ProjectionWorker(settings=settings, dsn=settings.database_url,
                            projector=CampaignEngine(engine, clock), topics=CONSUMED_TOPICS,
                            keys=keys, batch_size=batch_size)


async def run_engine(settings: CampaignsSettings, stop: asyncio.Event) -> None:
    """Consume customer, ticketing, analytics and campaigns events and decide campaigns."""
    keys = key_provider_for(settings, ["customer"], caller="campaigns")
    try:
        await engine_worker(settings, keys=keys).run(stop)
    finally:
        await keys.close()


async def run_timers(settings: CampaignsSettings, stop: asyncio.Event) -> None:
    """Fire due timers every few seconds; safe to run on several replicas (skip locked)."""
    engine = build_engine(settings)
    clock = SystemClock()
    pool = await create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        # A database outage or a deadlock with the engine: the next poll retries.
        await run_every(settings.timer_poll_seconds, lambda: fire_due_timers(pool, engine, now=clock.now()), stop,
                        job="timers")
    finally:
        await pool.close()


SERVICE: ServiceDefinition[CampaignsSettings] = ServiceDefinition(
    name="campaigns",
    settings_factory=CampaignsSettings,
    app_factory=build_app,
    migrations=Path(__file__).parent / "migrations",
    shared_migrations=[IMPORT_TABLES],
    produces=EVENTS_TOPIC,
    workers={"engine": run_engine, "timers": run_timers},
)


async def open_importer(settings: CampaignsSettings | None = None) -> Importer:
    """The import use case on the configured database (``CAMPAIGNS_DATABASE_URL``), publishing to its topic.

    ``c360 import`` opens it by name (``shared.importing.runner``), like ``c360 api`` finds the app.
    """
    settings = settings or CampaignsSettings()
    return Importer(await create_pool(settings.database_url, min_size=1, max_size=4), event_store(settings))
