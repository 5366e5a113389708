"""Other services' erasure acknowledgements into the erasure ledger (``erasure_status``).

A service can only acknowledge for itself: the publisher is taken from the CloudEvents ``source``
(the topic's owner), not only from the payload, and a mismatch is logged and ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import asyncpg

from services.customer.adapters import erasure
from shared.consuming.consumer import ReceivedEvent
from shared.contracts.privacy import CustomerDataErased
from shared.events.envelope import source_for

log = logging.getLogger(__name__)


async def record_acknowledgements(conn: asyncpg.Connection, events: Sequence[ReceivedEvent]) -> None:
    """Mark each acknowledging service done for its customer (every other event is ignored)."""
    for received in events:
        event = received.event
        if not isinstance(event, CustomerDataErased):
            continue
        if received.envelope.source != source_for(event.service):
            log.warning(
                "erasure acknowledgement ignored: its service is not its publisher",
                extra={"service": event.service, "source": received.envelope.source,
                       "event_id": str(received.event_id)},
            )
            continue
        await erasure.record_acknowledgement(
            conn,
            customer_id=event.customer_id,
            service=event.service,
            finished_at=event.erased_at,
            details=event.details,
            ack_event_id=received.event_id,
        )
