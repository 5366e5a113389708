"""Append the signals of a whole batch to analytics' event store and outbox in ONE statement.

``EventStore.append`` writes one stream per call; a projector batch touches thousands of customers
(one signal stream each), so per-stream appends would cost a round trip per customer. This writes
the same rows (events with their stream versions, plus the outbox rows the relay publishes) for
every stream at once. Optimistic concurrency is still enforced by ``unique (stream_id, version)``:
the expected versions come from the views loaded in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import orjson

from shared.catalog import DomainEvent
from shared.envelope import HISTORY_HEADER, HISTORY_IMPORT, Envelope, source_for
from shared.errors import ConcurrencyConflict
from shared.eventstore import EventMetadata
from shared.ids import uuid7

_SQL = """
with new_events as (
    insert into events (event_id, stream_id, stream_type, version, event_type, event_version, subject, data,
                        metadata, occurred_at)
    select * from unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::text[], $6::int[], $7::text[],
                         $8::jsonb[], $9::jsonb[], $10::timestamptz[])
    returning event_id
)
insert into outbox (topic, key, headers, payload)
select $11, o.key, o.headers, o.payload
from unnest($1::uuid[], $12::bytea[], $13::jsonb[], $14::bytea[]) with ordinality as o(event_id, key, headers,
                                                                                        payload, n)
join new_events e on e.event_id = o.event_id
where $11 <> ''
order by o.n
"""


@dataclass(frozen=True, slots=True)
class SignalAppend:
    stream_id: str
    stream_type: str
    subject: str
    expected_version: int
    events: Sequence[DomainEvent]
    history: bool = False
    """Derived from imported history only (ADR 0009): marked ``c360history`` so no campaign reacts to it."""


async def append_signals(
    conn: asyncpg.Connection, appends: Sequence[SignalAppend], *, service: str, topic: str | None
) -> None:
    """Append every stream's new events (and queue them for Kafka) in one round trip."""
    columns: list[list[object]] = [[] for _ in range(13)]
    metadata = EventMetadata.from_context()
    moment = datetime.now(UTC)
    source = source_for(service)
    for append in appends:
        for offset, event in enumerate(append.events, start=1):
            event_id = uuid7()
            data = event.model_dump(mode="json")
            version = append.expected_version + offset
            envelope = Envelope(
                id=event_id,
                type=event.ce_type(),
                source=source,
                subject=append.subject,
                time=moment,
                data=b"",
                correlation_id=metadata.correlation_id,
                causation_id=metadata.causation_id,
                stream_id=append.stream_id,
                stream_version=version,
                extra={HISTORY_HEADER: HISTORY_IMPORT} if append.history else {},
            )
            for column, value in zip(
                columns,
                (
                    event_id,
                    append.stream_id,
                    append.stream_type,
                    version,
                    event.event_type,
                    event.event_version,
                    append.subject,
                    data,
                    metadata.as_dict(),
                    moment,
                    append.subject.encode(),
                    envelope.header_map(),
                    orjson.dumps(data),
                ),
                strict=True,
            ):
                column.append(value)
    if not columns[0]:
        return
    try:
        await conn.execute(_SQL, *columns[:10], topic or "", *columns[10:])
    except asyncpg.UniqueViolationError:
        raise ConcurrencyConflict("a signal stream changed concurrently") from None
