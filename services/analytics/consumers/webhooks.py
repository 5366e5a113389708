"""The webhook router: a consumer over every topic that records deliveries (docs/webhooks.md).

Run by ``c360 worker analytics webhooks`` (beside the delivery loop) through the batch transport like
every analytics consumer: the consumer kit decodes, opens personal fields with the producers' keys,
deduplicates by the inbox and calls ``apply`` in one transaction with the events not seen before.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.analytics.application.webhooks import ROUTER_NAME, route_events
from shared.clock import Clock, SystemClock
from shared.consuming.consumer import ReceivedEvent


class WebhookRouter:
    """``shared.consuming.consumer.Projector``: every wanted event becomes a delivery row, exactly once."""

    name = ROUTER_NAME

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.routed = 0

    async def apply(self, conn: asyncpg.Connection, events: Sequence[ReceivedEvent]) -> None:
        """Route a batch (thin: the rules are in the application and domain layers)."""
        self.routed += await route_events(conn, events, now=self.clock.now())
