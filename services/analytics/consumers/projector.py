"""The 360 consumer: every domain topic into the 360 views, timeline and KPIs.

Run by ``c360 worker analytics projector`` through the batch transport like every analytics
consumer: the consumer kit decodes, opens personal fields with the producers' keys, deduplicates by
the inbox and calls ``apply`` in one transaction with the events not seen before. Thin: the fold
and the writes are ``application/projector.py``'s ``ViewProjection``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from services.analytics.application.projector import ViewProjection
from services.analytics.application.state_cache import StateCache
from services.analytics.domain.rules import AnalyticsRules
from shared.consuming.consumer import ReceivedEvent
from shared.store.eventstore import EventStore

PROJECTOR_NAME = "analytics-360"
CONSUMED_TOPICS = ("customer.events", "ticketing.events", "campaigns.events")


class AnalyticsProjector:
    """``shared.consuming.consumer.Projector`` of the 360 read models (``store=None``: a rebuild, no signals)."""

    def __init__(self, *, rules: AnalyticsRules, store: EventStore | None, name: str = PROJECTOR_NAME) -> None:
        self.name = name
        self.projection = ViewProjection(rules=rules, store=store)

    @property
    def cache(self) -> StateCache:
        return self.projection.cache

    def on_partitions_revoked(self, partitions: Iterable[object] = ()) -> None:
        """A rebalance took partitions away (``shared.consuming.streams`` calls this): forget the cached states."""
        self.projection.forget_cached_states()

    async def apply(self, conn: asyncpg.Connection, events: Sequence[ReceivedEvent]) -> None:
        """Apply a batch in the kit's transaction."""
        await self.projection.apply(conn, events)
