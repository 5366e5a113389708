"""Helpers for analytics integration tests: facts as real envelopes and records, the app, tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from uuid import UUID

import httpx

from services.analytics.bootstrap import build_app, event_store
from services.analytics.config import AnalyticsSettings
from services.analytics.consumers.projector import AnalyticsProjector
from services.analytics.domain.model import Fact
from shared.clock import Clock
from shared.consuming.consumer import RawRecord, record_for
from shared.events.catalog import CATALOG
from shared.events.envelope import Envelope, new_envelope
from shared.settings import PlatformSettings
from shared.web import mint_token


def analytics_settings(platform: PlatformSettings, dsn: str) -> AnalyticsSettings:
    return AnalyticsSettings(**{**platform.model_dump(), "database_url": dsn})


def envelope_of(fact: Fact) -> Envelope:
    """The envelope the producing service would have published for this fact."""
    event = CATALOG.decode(fact.event_type, CATALOG.latest_version(fact.event_type), dict(fact.data))
    return new_envelope(event, service=event.domain, subject=fact.origin, time=fact.at, event_id=UUID(fact.event_id))


def records(facts: Iterable[Fact], prefix: str = "") -> list[RawRecord]:
    result = []
    for offset, fact in enumerate(facts):
        envelope = envelope_of(fact)
        domain = envelope.type_name.domain
        result.append(record_for(envelope, topic=f"{prefix}{domain}.events", offset=offset))
    return result


def token(settings: PlatformSettings, *scopes: str, customer_id: str | None = None) -> dict[str, str]:
    value = mint_token(settings, "tester", list(scopes) or ["analytics:read"], customer_id=customer_id)
    return {"Authorization": f"Bearer {value}"}


@asynccontextmanager
async def api(settings: AnalyticsSettings, clock: Clock | None = None) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://analytics") as client:
            yield client


def projector(settings: AnalyticsSettings) -> AnalyticsProjector:
    """The live projector with the settings' rules and event store, as the worker builds it."""
    return AnalyticsProjector(rules=settings.rules, store=event_store(settings))
