"""The erasure ledger's projector: other services' ``CustomerDataErased`` into ``erasure_status``.

Run it with ``c360 worker customer erasure-acks``. It consumes the topics of every service that
acknowledges erasures and ignores everything but the acknowledgements; the kit's inbox makes a
redelivered acknowledgement a no-op. The publisher is taken from the CloudEvents ``source`` (the
topic's owner), not only from the payload, so a service can only ever acknowledge for itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import asyncpg

from services.customer.adapters import erasure
from shared.consumer import ReceivedEvent
from shared.contracts.privacy import CustomerDataErased
from shared.envelope import source_for

log = logging.getLogger(__name__)

TOPICS = ("ticketing.events", "campaigns.events", "analytics.events")


class ErasureAcknowledgements:
    """Marks a service done in ``erasure_status`` when its ``CustomerDataErased`` arrives."""

    name = "customer.erasure-acks"

    async def apply(self, conn: asyncpg.Connection, events: Sequence[ReceivedEvent]) -> None:
        """Record every acknowledgement of the batch (other events are ignored)."""
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
