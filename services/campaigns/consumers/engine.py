"""The campaign engine as a projector for ``shared.consuming.consumer``: thin, the work is in the application layer.

Consumes ``customer.events``, ``ticketing.events``, ``analytics.events`` and its own
``campaigns.events`` (survey answers and redemptions trigger campaigns too; the engine's own
decisions are ignored there, see ``application.triggers``); run it with ``c360 worker campaigns engine``.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.campaigns.application.engine import Consumed, Engine, handle_events
from shared.clock import Clock, SystemClock
from shared.consuming.consumer import ReceivedEvent
from shared.events.envelope import is_imported_history

CONSUMED_TOPICS = ("customer.events", "ticketing.events", "analytics.events", "campaigns.events")


class CampaignEngine:
    """Applies each consumed event once: replica, attribution, then decisions for triggered campaigns."""

    name = "campaigns-engine"

    def __init__(self, engine: Engine, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock = clock or SystemClock()

    async def apply(self, conn: asyncpg.Connection, events: Sequence[ReceivedEvent]) -> None:
        """Handle a batch in the kit's transaction, in partition order."""
        consumed = [Consumed(str(received.event_id), received.event, received.subject, received.time,
                             is_imported_history(received.envelope)) for received in events]
        await handle_events(self.engine, conn, consumed, now=self.clock.now())
