"""The erasure ledger's consumer: other services' ``CustomerDataErased`` into ``erasure_status``.

Run it with ``c360 worker customer erasure-acks``. It consumes the topics of every service that
acknowledges erasures; the kit's inbox makes a redelivered acknowledgement a no-op. Thin: the rule
(who may acknowledge what) is ``application/erasure_acks.py``'s.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.customer.application.erasure_acks import record_acknowledgements
from shared.consuming.consumer import ReceivedEvent

TOPICS = ("ticketing.events", "campaigns.events", "analytics.events")


class ErasureAcknowledgements:
    """Marks a service done in ``erasure_status`` when its ``CustomerDataErased`` arrives."""

    name = "customer.erasure-acks"

    async def apply(self, conn: asyncpg.Connection, events: Sequence[ReceivedEvent]) -> None:
        """Record every acknowledgement of the batch in the kit's transaction."""
        await record_acknowledgements(conn, events)
