"""A service's acknowledgement that it erased a customer (``CustomerDataErased`` on its erasure stream).

Every service that holds personal data acknowledges an erasure the same way, in the transaction of
what it erased: one event on the customer's ``erasure-<id>`` stream, appended after whatever is there
(the customer service's own request and other services' acknowledgements share no stream head, so
each append reads the head it follows). The customer service collects these into the erasure's ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

import asyncpg

from shared.contracts.privacy import CustomerDataErased, erasure_stream
from shared.store.eventstore import EventStore


async def acknowledge_erasure(
    store: EventStore,
    conn: asyncpg.Connection,
    *,
    customer_id: UUID | str,
    service: str,
    erasure_event_id: UUID | str | None,
    erased_at: datetime,
    details: Mapping[str, int] | None = None,
) -> None:
    """Append ``CustomerDataErased`` by ``service`` for ``customer_id``, in the caller's transaction."""
    stream = erasure_stream(customer_id)
    await store.append(
        conn,
        stream_id=stream,
        stream_type="erasure",
        expected_version=await store.stream_version(conn, stream),
        events=[CustomerDataErased(customer_id=UUID(str(customer_id)), service=service, erased_at=erased_at,
                                   erasure_event_id=None if erasure_event_id is None else UUID(str(erasure_event_id)),
                                   details=dict(details or {}))],
        subject=str(customer_id),
    )
