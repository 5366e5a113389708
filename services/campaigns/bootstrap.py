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

from services.campaigns.api.app import EVENTS_TOPIC, build_engine, create_app
from services.campaigns.application.engine import fire_due_timers
from services.campaigns.config import CampaignsSettings
from services.campaigns.consumers.engine import CONSUMED_TOPICS, CampaignEngine
from shared.clock import Clock, SystemClock
from shared.consumer import KeyProvider
from shared.db import create_pool
from shared.keyaccess import key_provider_for
from shared.periodic import run_every
from shared.service import ServiceDefinition
from shared.settings import ServiceSettings
from shared.streams import ProjectionWorker


def engine_worker(
    settings: ServiceSettings, *, keys: KeyProvider | None = None, clock: Clock | None = None, batch_size: int = 1000
) -> ProjectionWorker:
    """The engine as a Faust worker over its topics (the ``engine`` process; tests start it in-process).

    ``keys`` opens the customer domain's personal fields the engine needs (the birth date for
    birthday campaigns); without it they read as unknown.
    """
    engine = dataclasses.replace(build_engine(settings), keys=keys)
    return ProjectionWorker(settings=settings, dsn=settings.database_url,
                            projector=CampaignEngine(engine, clock), topics=CONSUMED_TOPICS,
                            keys=keys, batch_size=batch_size)


async def run_engine(settings: ServiceSettings, stop: asyncio.Event) -> None:
    """Consume customer, ticketing, analytics and campaigns events and decide campaigns."""
    keys = key_provider_for(settings, ["customer"], caller="campaigns")
    try:
        await engine_worker(settings, keys=keys).run(stop)
    finally:
        await keys.close()


async def run_timers(settings: ServiceSettings, stop: asyncio.Event) -> None:
    """Fire due timers every few seconds; safe to run on several replicas (skip locked)."""
    interval = getattr(settings, "timer_poll_seconds", 5.0)
    engine = build_engine(settings)
    clock = SystemClock()
    pool = await create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        # A database outage or a deadlock with the engine: the next poll retries.
        await run_every(interval, lambda: fire_due_timers(pool, engine, now=clock.now()), stop, job="timers")
    finally:
        await pool.close()


SERVICE = ServiceDefinition(
    name="campaigns",
    settings_factory=CampaignsSettings,
    app_factory=create_app,
    migrations=Path(__file__).parent / "migrations",
    produces=EVENTS_TOPIC,
    workers={"engine": run_engine, "timers": run_timers},
)
