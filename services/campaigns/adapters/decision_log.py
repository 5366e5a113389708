"""Appending the events of many decisions at once: one statement for many streams.

Why not ``EventStore.append`` in a loop: a sweep (birthdays, inactivity) decides for thousands of
customers in one go, and every decision is its own stream (``decision-<campaign>-<customer>-<trigger>``)
keyed by its customer. One append per stream would be one round trip per customer. This appends all
of them with one ``insert``, with the event store's guarantees:

* the outbox rows are inserted by the same statement as the events (nothing published that was not
  committed);
* versions continue each stream's head, read in the same transaction, and ``unique (stream_id,
  version)`` turns a concurrent writer into ``ConcurrencyConflict`` (the caller holds the campaign
  and customer locks, so that does not happen in practice);
* the headers are the ones ``EventStore.append`` writes (CloudEvents binary mode, stream id and version).

Decision events carry no personal fields; an event that has some is refused here rather than
published unencrypted (``EventStore.append`` is the way for those).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import orjson

from shared.catalog import DomainEvent
from shared.envelope import Envelope
from shared.errors import ConcurrencyConflict
from shared.eventstore import EventMetadata, EventStore
from shared.ids import uuid7


@dataclass(frozen=True, slots=True)
class StreamAppend:
    """Events to add at the end of one stream, about one subject (the Kafka key)."""

    stream_id: str
    subject: str
    events: Sequence[DomainEvent]


_APPEND_MANY_SQL = """
with new_events as (
    insert into events (event_id, stream_id, stream_type, version, event_type, event_version,
                        subject, data, metadata, occurred_at)
    select e.event_id, e.stream_id, $1, e.version, e.event_type, e.event_version, e.subject, e.data::jsonb, $2, $3
    from unnest($4::uuid[], $5::text[], $6::int[], $7::text[], $8::int[], $9::text[], $10::text[])
         with ordinality as e(event_id, stream_id, version, event_type, event_version, subject, data, n)
    order by e.n
    returning position, event_id
),
new_outbox as (
    insert into outbox (topic, key, headers, payload)
    select $11, o.key, o.headers::jsonb, o.payload
    from unnest($12::uuid[], $13::bytea[], $14::text[], $15::bytea[]) as o(event_id, key, headers, payload)
    join new_events n on n.event_id = o.event_id
    order by n.position
    returning 1
)
select count(*) from new_events
"""


async def append_to_streams(
    conn: asyncpg.Connection, store: EventStore, *, stream_type: str, appends: Sequence[StreamAppend]
) -> int:
    """Append every stream's events in the caller's transaction; returns how many events were written."""
    appends = [a for a in appends if a.events]
    if not appends:
        return 0
    for append in appends:
        for event in append.events:
            if event.personal_fields():
                raise ValueError(f"{event.event_type} has personal fields; append it with EventStore.append")
    heads = dict(await conn.fetch(
        "select stream_id, max(version) from events where stream_id = any($1::text[]) group by stream_id",
        list({a.stream_id for a in appends}),
    ))
    metadata = EventMetadata.from_context()
    moment = datetime.now(UTC)
    ids: list[UUID] = []
    streams: list[str] = []
    versions: list[int] = []
    types: list[str] = []
    type_versions: list[int] = []
    subjects: list[str] = []
    datas: list[str] = []
    keys: list[bytes] = []
    headers: list[str] = []
    payloads: list[bytes] = []
    for append in appends:
        head = heads.get(append.stream_id) or 0
        template = Envelope(id=uuid7(), type="", source=store.source, subject=append.subject, time=moment, data=b"",
                            correlation_id=metadata.correlation_id, causation_id=metadata.causation_id,
                            stream_id=append.stream_id, stream_version=0,
                            traceparent=metadata.traceparent).header_map()
        for offset, event in enumerate(append.events, start=1):
            event_id = uuid7()
            payload = event.__pydantic_serializer__.to_json(event)
            template["ce_id"] = str(event_id)
            template["ce_type"] = event.ce_type()
            template["ce_streamversion"] = str(head + offset)
            ids.append(event_id)
            streams.append(append.stream_id)
            versions.append(head + offset)
            types.append(event.event_type)
            type_versions.append(event.event_version)
            subjects.append(append.subject)
            datas.append(payload.decode())
            keys.append(append.subject.encode())
            headers.append(orjson.dumps(template).decode())
            payloads.append(payload)
    published = store.topic is not None
    try:
        written = await conn.fetchval(
            _APPEND_MANY_SQL, stream_type, metadata.as_dict(), moment, ids, streams, versions, types, type_versions,
            subjects, datas, store.topic or "", ids if published else [], keys if published else [],
            headers if published else [], payloads if published else [],
        )
    except asyncpg.UniqueViolationError:
        raise ConcurrencyConflict("a decision stream changed concurrently") from None
    return int(written)
