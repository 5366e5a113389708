"""The alerts consumer: domain topics and analytics' own signals into account managers' alerts.

Run by ``c360 worker analytics alerts`` through the batch transport like every analytics consumer:
the consumer kit decodes, opens personal fields (birth dates) with the producers' keys, deduplicates
by the inbox and calls ``apply`` in one transaction with the events not seen before. Why a consumer
of its own and not the projector: ``services/analytics/application/alerts.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.analytics.application.alerts import ALERTS_CONSUMER, route_alerts
from services.analytics.domain.rules import AnalyticsRules
from shared.clock import Clock, SystemClock
from shared.consuming.consumer import ReceivedEvent
from shared.store.eventstore import EventStore


class AlertRouter:
    """``shared.consuming.consumer.Projector``: every significant event at a managed customer, at most one alert."""

    name = ALERTS_CONSUMER

    def __init__(self, *, rules: AnalyticsRules, store: EventStore, clock: Clock | None = None) -> None:
        self.rules = rules
        self.store = store
        self.clock = clock or SystemClock()
        self.raised = 0

    async def apply(self, conn: asyncpg.Connection, events: Sequence[ReceivedEvent]) -> None:
        """Apply a batch (thin: the rules are in the application and domain layers)."""
        self.raised += await route_alerts(conn, events, rules=self.rules, store=self.store, now=self.clock.now())
