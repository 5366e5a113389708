"""The PostgreSQL event store: append with optimistic concurrency, plus the transactional outbox.

Guarantees and how they are kept:

* **No lost update.** ``append`` inserts versions ``expected+1 ..`` only when the stream's head is
  still ``expected`` (checked in the same statement), and ``unique (stream_id, version)`` settles
  the race between two writers that both saw the same head: the loser's insert waits for the
  winner's commit, then fails, and becomes ``ConcurrencyConflict``. No table lock: writers on
  different streams never wait for each other.
* **Many streams, one statement** (``append_streams``): a batch of small streams (one per decision,
  one per customer's signals) is appended with the same checks, rows and headers as ``append``, in
  one round trip instead of one per stream.
* **Nothing published that was not committed; nothing committed that is not published.** The
  outbox rows for Kafka are inserted by the *same statement* as the events, so they commit or roll
  back together; the relay publishes only committed rows.
* **Commit order for readers without gaps.** Identity values are handed out at insert time, not at
  commit, so a reader that remembers "last position seen" can skip a row whose transaction commits
  late. Each row records its transaction id (``xid8``); ``read_all`` only returns rows of
  transactions older than the oldest still running one (``pg_snapshot_xmin``), ordered by
  ``(tx_id, position)``. A checkpoint on that pair never skips a row.
* **Personal data** is encrypted per subject before it is written (``shared.shredding``).
* **Bulk history** (``append_many``): many streams at once through ``COPY``, for a bulk import of an
  enterprise's past. The same rows, versions and outbox entries as ``append``, in the caller's
  transaction; the events carry their own times and may be marked as imported history.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NotRequired, TypedDict
from uuid import UUID

import asyncpg
import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.clock import utc_now
from shared.errors import ConcurrencyConflict
from shared.events.catalog import CATALOG, Catalog, DomainEvent
from shared.events.envelope import (
    ACTOR_HEADER,
    CONTENT_TYPE,
    HISTORY_HEADER,
    HISTORY_IMPORT,
    SPEC_VERSION,
    Envelope,
    format_time,
    source_for,
)
from shared.ids import uuid7, uuid7_texts
from shared.ops.logging import actor_var, causation_id_var, correlation_id_var
from shared.ops.observability import process_metrics
from shared.shredding import KeyStore, decrypt_fields, encrypt_fields, redact_fields


@dataclass(frozen=True, slots=True)
class EventMetadata:
    """Why an event happened: who asked, in which conversation, caused by which event."""

    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None
    actor: str | None = None

    @classmethod
    def from_context(cls) -> EventMetadata:
        """Metadata of the request or event being handled (from the logging context vars)."""
        return cls(
            correlation_id=correlation_id_var.get(),
            causation_id=causation_id_var.get(),
            actor=actor_var.get(),
        )

    def as_dict(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (
                ("correlation_id", self.correlation_id),
                ("causation_id", self.causation_id),
                ("traceparent", self.traceparent),
                ("actor", self.actor),
            )
            if v
        }


class AppendArgs(TypedDict):
    """The arguments of one append, spelled once for every implementation of the event-log port."""

    stream_id: str
    stream_type: str
    expected_version: int
    events: Sequence[DomainEvent]
    subject: str
    metadata: NotRequired[EventMetadata | None]
    occurred_at: NotRequired[datetime | None]


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as stored: its payload (latest model version) and where it sits in the log."""

    position: int
    event_id: UUID
    stream_id: str
    stream_type: str
    version: int
    event: DomainEvent
    subject: str
    occurred_at: datetime
    recorded_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def event_type(self) -> str:
        return self.event.event_type


@dataclass(frozen=True, slots=True, order=True)
class Checkpoint:
    """A position in commit order: ``(transaction id, position)``."""

    tx_id: int
    position: int


_APPEND_SQL = """
with input as (
    select * from unnest($6::uuid[], $7::text[], $8::int[], $9::text[], $10::text[])
        with ordinality as i(event_id, event_type, event_version, payload, ce_type, n)
),
head as (
    select coalesce(max(version), 0) as version from events where stream_id = $1
),
new_events as (
    insert into events (event_id, stream_id, stream_type, version, event_type, event_version,
                        subject, data, metadata, occurred_at)
    select i.event_id, $1, $2, $11 + i.n, i.event_type, i.event_version, $3,
           i.payload::jsonb, $4, $5
    from input i
    where (select version from head) = $11
    order by i.n
    returning position, event_id, version, recorded_at
),
new_outbox as (
    insert into outbox (topic, key, headers, payload)
    select $12, $13,
           $14::jsonb || jsonb_build_object('ce_id', i.event_id::text, 'ce_type', i.ce_type,
                                            'ce_streamversion', ($11 + i.n)::text),
           convert_to(i.payload, 'UTF8')
    from input i join new_events n on n.event_id = i.event_id
    where $12 <> ''
    order by n.position
    returning 1
)
select n.position, n.event_id, n.version, n.recorded_at, (select count(*) from new_outbox) as queued
from new_events n order by n.position
"""


@dataclass(frozen=True, slots=True)
class StreamEvents:
    """New events for one stream in ``append_streams``: the stream, its subject and where it must stand."""

    stream_id: str
    stream_type: str
    subject: str
    """The customer the events are about: the Kafka key, and whose data key seals personal fields."""
    expected_version: int | None
    """The head the caller read; ``None`` appends after whatever the head is in this transaction (for a
    caller that serialises the stream's writers itself, e.g. under a lock: ``unique (stream_id, version)``
    still turns a concurrent writer into ``ConcurrencyConflict``)."""
    events: Sequence[DomainEvent]
    history: bool = False
    """Derived from imported history only (ADR 0009): the outbox rows carry ``c360history`` so no campaign
    reacts to them."""
    metadata: EventMetadata | None = None
    """This stream's own metadata, when one call groups appends of different requests (``ViewLog``);
    ``None`` takes the call's."""
    occurred_at: datetime | None = None
    """This stream's own moment, likewise; ``None`` takes the call's."""


_APPEND_STREAMS_SQL = """
with streams as (
    select s.*, coalesce((select max(e.version) from events e where e.stream_id = s.stream_id), 0) as head
    from unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $13::jsonb[], $14::timestamptz[])
        with ordinality as s(stream_id, stream_type, subject, expected, headers, metadata, occurred_at, k)
),
conflicts as (
    select stream_id, expected, head from streams where expected is not null and expected <> head
),
input as (
    select * from unnest($6::int[], $7::int[], $8::uuid[], $9::text[], $10::int[], $11::text[], $12::text[])
        with ordinality as i(k, step, event_id, event_type, event_version, ce_type, payload, n)
),
new_events as (
    insert into events (event_id, stream_id, stream_type, version, event_type, event_version,
                        subject, data, metadata, occurred_at)
    select i.event_id, s.stream_id, s.stream_type, s.head + i.step, i.event_type, i.event_version, s.subject,
           i.payload::jsonb, s.metadata, s.occurred_at
    from input i join streams s on s.k = i.k
    where not exists (select from conflicts)
    order by i.n
    returning position, event_id, version
),
new_outbox as (
    insert into outbox (topic, key, headers, payload)
    select $15, convert_to(s.subject, 'UTF8'),
           s.headers::jsonb || jsonb_build_object('ce_id', i.event_id::text, 'ce_type', i.ce_type,
                                                  'ce_streamversion', n.version::text),
           convert_to(i.payload, 'UTF8')
    from new_events n join input i on i.event_id = n.event_id join streams s on s.k = i.k
    where $15 <> ''
    order by n.position
    returning 1
)
select (select count(*) from new_events) as written, c.stream_id, c.expected, c.head
from (select 1) as one left join lateral (select * from conflicts order by stream_id limit 1) c on true
"""


def _sealed_json(event: DomainEvent, key: bytes | None, subject: str) -> str:
    """The event's JSON as stored and published, serialised once (the same text is the jsonb column and,
    byte for byte, the Kafka value); personal fields sealed with the subject's key, blanked without one."""
    personal = event.personal_fields()
    if not personal:
        return event.__pydantic_serializer__.to_json(event).decode()
    data = event.model_dump(mode="json")
    data = encrypt_fields(data, personal, key, subject) if key else redact_fields(data, personal)
    return orjson.dumps(data).decode()


_NIL = UUID(int=0)


@dataclass(frozen=True, slots=True)
class StreamAppend:
    """New events for one stream in a bulk append: each event with the moment it happened."""

    stream_id: str
    stream_type: str
    expected_version: int
    subject: str
    events: Sequence[DomainEvent]
    times: Sequence[datetime]
    """One per event: its ``occurred_at`` (and CloudEvents ``time``)."""


_EVENT_COPY_COLUMNS = (
    "event_id",
    "stream_id",
    "stream_type",
    "version",
    "event_type",
    "event_version",
    "subject",
    "data",
    "metadata",
    "occurred_at",
)
_OUTBOX_COPY_COLUMNS = ("topic", "key", "headers", "payload")

_COLUMNS = (
    "position, event_id, stream_id, stream_type, version, event_type, event_version, subject, data, "
    "metadata, occurred_at, recorded_at"
)


class EventStore:
    """One service's event store. Every method takes the connection of the caller's transaction."""

    def __init__(
        self,
        *,
        service: str,
        topic: str | None,
        catalog: Catalog = CATALOG,
        keys: KeyStore | None = None,
        metrics: Any | None = None,
    ) -> None:
        self.metrics = metrics
        """``shared.ops.metrics.PlatformMetrics``; committed appends are counted by event type."""
        self.service = service
        self.topic = topic
        self.catalog = catalog
        self.keys = keys or KeyStore()
        self.source = source_for(service)

    def unpublished(self) -> EventStore:
        """This store without a topic: its appends write no outbox row (audit records stay off Kafka)."""
        return EventStore(service=self.service, topic=None, catalog=self.catalog, keys=self.keys)

    async def append(
        self,
        conn: asyncpg.Connection,
        *,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        subject: str,
        metadata: EventMetadata | None = None,
        occurred_at: datetime | None = None,
    ) -> list[RecordedEvent]:
        """Append ``events`` after ``expected_version``; raises ``ConcurrencyConflict`` if it moved.

        Must run inside a transaction the caller owns (the unit of work), so the caller's other
        writes (read models, idempotency record) commit or roll back with the events.
        """
        if not events:
            return []
        metadata = metadata or EventMetadata.from_context()
        moment = occurred_at or utc_now()
        key = None
        if any(e.personal_fields() for e in events):
            key = await self.keys.key_for(conn, subject)

        # Hot path: serialise each event once and send it once (the same text becomes the jsonb column
        # and, byte for byte, the Kafka value); the CloudEvents headers are one template per append that
        # the statement completes per event (ce_id, ce_type, ce_streamversion).
        template = self._header_template(stream_id=stream_id, subject=subject, moment=moment, metadata=metadata)
        ids = [uuid7() for _ in events]
        payloads = [_sealed_json(event, key, subject) for event in events]

        try:
            rows = await conn.fetch(
                _APPEND_SQL,
                stream_id,
                stream_type,
                subject,
                metadata.as_dict(),
                moment,
                ids,
                [e.event_type for e in events],
                [e.event_version for e in events],
                payloads,
                [e.ce_type() for e in events],
                expected_version,
                self.topic or "",
                subject.encode(),
                template,
            )
        except asyncpg.UniqueViolationError:
            raise ConcurrencyConflict(
                f"stream {stream_id} changed concurrently (expected version {expected_version})",
                expected_version=expected_version,
            ) from None
        if not rows:
            current = await self.stream_version(conn, stream_id)
            raise ConcurrencyConflict(
                f"stream {stream_id} is at version {current}, not {expected_version}",
                expected_version=expected_version,
                current_version=current,
            )
        return [
            RecordedEvent(
                position=row["position"],
                event_id=row["event_id"],
                stream_id=stream_id,
                stream_type=stream_type,
                version=row["version"],
                event=event,
                subject=subject,
                occurred_at=moment,
                recorded_at=row["recorded_at"],
                metadata=metadata.as_dict(),
            )
            for row, event in zip(rows, events, strict=True)
        ]

    async def append_many(
        self,
        conn: asyncpg.Connection,
        appends: Sequence[StreamAppend],
        *,
        history: bool = False,
        metadata: EventMetadata | None = None,
    ) -> int:
        """Append events to many streams with two ``COPY`` statements; returns how many were written.

        The bulk path for imports: the rows are exactly those ``append`` writes (versions
        ``expected+1 ..`` per stream, one outbox row per event in stream order, personal fields
        sealed), but thousands of streams cost two round trips instead of one each. Optimistic
        concurrency holds: heads of streams expected at a version above 0 are checked first, and
        ``unique (stream_id, version)`` refuses any version another writer took, even a new stream's
        first (``ConcurrencyConflict``; the caller's transaction must then roll back). ``history``
        marks every event as imported past: ``metadata.history`` and the ``ce_c360history`` header.
        Must run inside the caller's transaction; ``append`` itself is untouched by this path.
        """
        appends = [a for a in appends if a.events]
        if not appends:
            return 0
        for a in appends:
            if len(a.times) != len(a.events):
                raise ValueError(f"stream {a.stream_id}: one time per event is required")
        await self._check_heads(conn, appends)
        meta = dict((metadata or EventMetadata.from_context()).as_dict())
        if history:
            meta["history"] = HISTORY_IMPORT
        meta_text = orjson.dumps(meta).decode()
        keys = await self._keys_for(conn, {a.subject for a in appends if any(e.personal_fields() for e in a.events)})
        # Rows go straight to COPY's text format as bytes (no csv module, no str round trip). Every
        # piece that is the same for a call, a stream or an event class is escaped once; each event
        # costs its id, payload, version and time (profile: ~13 us an event before, most of it
        # building, dumping and re-escaping the same headers and strings for every event).
        fixed: dict[str, str] = {"ce_specversion": SPEC_VERSION, "ce_source": self.source, "content-type": CONTENT_TYPE}
        for header, value in (
            (HISTORY_HEADER, HISTORY_IMPORT if history else None),
            ("ce_correlationid", meta.get("correlation_id")),
            ("ce_causationid", meta.get("causation_id")),
            ("ce_traceparent", meta.get("traceparent")),
            (ACTOR_HEADER, meta.get("actor")),
        ):
            if value is not None:
                fixed[header] = value
        headers_open = _copy_bytes(orjson.dumps(fixed)[:-1]) + b',"ce_id":"'
        meta_cell = _copy_bytes(meta_text.encode())
        topic = self.topic or ""
        topic_cell = _copy_bytes(topic.encode())
        classes: dict[type[DomainEvent], tuple[bytes, bytes, frozenset[str]]] = {}
        events_rows: list[bytes] = []
        outbox_rows: list[bytes] = []
        ids = iter(uuid7_texts(sum(len(a.events) for a in appends)))
        written = 0
        for a in appends:
            subject = a.subject
            prefix = _copy_bytes(a.stream_id.encode()) + b"\t" + _copy_bytes(a.stream_type.encode())
            subject_cell = _copy_bytes(subject.encode())
            key_cell = _bytea_cell(subject.encode())
            stream_headers = _copy_bytes(orjson.dumps({"ce_subject": subject, "ce_streamid": a.stream_id})[1:-1])
            key = keys.get(subject)
            for offset, (event, moment) in enumerate(zip(a.events, a.times, strict=True), start=1):
                kind = type(event)
                known = classes.get(kind)
                if known is None:
                    known = classes[kind] = (
                        _copy_bytes(kind.event_type.encode()) + b"\t" + str(kind.event_version).encode(),
                        _copy_bytes(orjson.dumps(kind.ce_type())),
                        kind.personal_fields(),
                    )
                type_cells, ce_type, personal = known
                event_id = next(ids).encode()
                version = str(a.expected_version + offset).encode()
                at = _utc_text(moment)
                if personal:
                    data = event.model_dump(mode="json")
                    data = encrypt_fields(data, personal, key, subject) if key else redact_fields(data, personal)
                    payload = orjson.dumps(data)
                else:
                    payload = event.__pydantic_serializer__.to_json(event)
                # JSON has no raw tab or line break: a backslash is all COPY text needs escaped.
                escaped = payload.replace(b"\\", b"\\\\") if b"\\" in payload else payload
                events_rows.append(
                    b"\t".join((event_id, prefix, version, type_cells, subject_cell, escaped, meta_cell, at))
                )
                if topic:
                    # Exactly Envelope.header_map's attributes, built without an Envelope per event.
                    headers = b"".join(
                        (
                            headers_open,
                            event_id,
                            b'","ce_type":',
                            ce_type,
                            b',"ce_time":"',
                            at,
                            b'",',
                            stream_headers,
                            b',"ce_streamversion":"',
                            version,
                            b'"}',
                        )
                    )
                    outbox_rows.append(b"\t".join((topic_cell, key_cell, headers, _bytea_cell(payload))))
                written += 1
        try:
            await conn.copy_to_table(
                "events",
                source=_pieces(b"\n".join(events_rows) + b"\n"),
                columns=list(_EVENT_COPY_COLUMNS),
                format="text",
            )
        except asyncpg.UniqueViolationError:
            raise ConcurrencyConflict("a stream of the bulk append changed concurrently") from None
        if topic:
            await conn.copy_to_table(
                "outbox",
                source=_pieces(b"\n".join(outbox_rows) + b"\n"),
                columns=list(_OUTBOX_COPY_COLUMNS),
                format="text",
            )
        return written

    async def _check_heads(self, conn: asyncpg.Connection, appends: Sequence[StreamAppend]) -> None:
        """Streams expected at a version above 0 must still be there (new streams rely on the unique key)."""
        expected = {a.stream_id: a.expected_version for a in appends if a.expected_version > 0}
        if not expected:
            return
        rows = await conn.fetch(
            "select stream_id, max(version) as head from events where stream_id = any($1::text[]) group by stream_id",
            list(expected),
        )
        heads = {r["stream_id"]: r["head"] for r in rows}
        for stream_id, version in expected.items():
            if heads.get(stream_id, 0) != version:
                raise ConcurrencyConflict(
                    f"stream {stream_id} is at version {heads.get(stream_id, 0)}, not {version}",
                    expected_version=version,
                    current_version=heads.get(stream_id, 0),
                )

    async def _keys_for(self, conn: asyncpg.Connection, subjects: set[str]) -> dict[str, bytes | None]:
        """Each subject's data key, created for those that have none (one statement for all)."""
        if not subjects:
            return {}
        ordered = sorted(subjects)  # a fixed order: two bulk writers cannot deadlock on key rows
        rows = await conn.fetch(
            """insert into personal_data_keys (subject, key)
               select * from unnest($1::text[], $2::bytea[])
               on conflict (subject) do update set subject = excluded.subject
               returning subject, key""",
            ordered,
            [AESGCM.generate_key(bit_length=256) for _ in ordered],
        )
        return {r["subject"]: r["key"] for r in rows}

    def count_committed(self, recorded: Sequence[RecordedEvent]) -> None:
        """Count events whose transaction committed (the unit of work calls it after commit).

        APIs count into their app's registry (the service kit sets ``metrics``); workers and
        schedulers into the process registry served on ``METRICS_PORT``.
        """
        if not recorded:
            return
        if self.metrics is None:
            self.metrics = process_metrics()
        for event in recorded:
            self.metrics.events_appended.labels(event_type=event.event_type).inc()

    async def append_streams(
        self,
        conn: asyncpg.Connection,
        streams: Sequence[StreamEvents],
        *,
        metadata: EventMetadata | None = None,
        occurred_at: datetime | None = None,
    ) -> int:
        """Append new events to many streams in one statement; returns how many events were written.

        For writers that touch thousands of small streams at once (a campaign sweep decides for every
        customer, each decision its own stream; an analytics batch emits signals for every customer it
        folded): ``append`` per stream would be a round trip each. The rows, headers and guarantees are
        ``append``'s: versions continue each stream's head; a stream whose head is not its
        ``expected_version`` makes the whole batch a ``ConcurrencyConflict`` with nothing written, and
        ``unique (stream_id, version)`` does the same for a writer that raced past the check; the outbox
        rows are inserted by the same statement, in log order. Must run inside the caller's
        transaction. Each stream at most once per call (versions are numbered per entry).
        """
        streams = [s for s in streams if s.events]
        if not streams:
            return 0
        if len({s.stream_id for s in streams}) != len(streams):
            raise ValueError("append_streams takes each stream at most once")
        metadata = metadata or EventMetadata.from_context()
        moment = occurred_at or utc_now()
        keys = await self._personal_data_keys(conn, streams)
        metadatas = [s.metadata or metadata for s in streams]
        moments = [s.occurred_at or moment for s in streams]
        try:
            row = await conn.fetchrow(
                _APPEND_STREAMS_SQL,
                *self._stream_columns(streams, moments, metadatas),
                *_event_columns(streams, keys),
                [m.as_dict() for m in metadatas],
                moments,
                self.topic or "",
            )
        except asyncpg.UniqueViolationError:
            kinds = ", ".join(sorted({s.stream_type for s in streams}))
            raise ConcurrencyConflict(f"a {kinds} stream changed concurrently") from None
        if row["stream_id"] is not None:
            raise ConcurrencyConflict(
                f"stream {row['stream_id']} is at version {row['head']}, not {row['expected']}",
                expected_version=row["expected"],
                current_version=row["head"],
            )
        return int(row["written"])

    async def _personal_data_keys(
        self, conn: asyncpg.Connection, streams: Sequence[StreamEvents]
    ) -> dict[str, bytes | None]:
        """The data keys of the subjects that have personal fields to seal, in a fixed order (no deadlock)."""
        subjects = sorted({s.subject for s in streams if any(e.personal_fields() for e in s.events)})
        return {subject: await self.keys.key_for(conn, subject) for subject in subjects}

    def _stream_columns(
        self, streams: Sequence[StreamEvents], moments: Sequence[datetime], metadatas: Sequence[EventMetadata]
    ) -> tuple[list[str], list[str], list[str], list[int | None], list[str]]:
        """One entry per stream: id, type, subject, expected head and its header template (as JSON)."""
        return (
            [s.stream_id for s in streams],
            [s.stream_type for s in streams],
            [s.subject for s in streams],
            [s.expected_version for s in streams],
            [
                orjson.dumps(
                    self._header_template(
                        stream_id=s.stream_id, subject=s.subject, moment=moment, metadata=metadata, history=s.history
                    )
                ).decode()
                for s, moment, metadata in zip(streams, moments, metadatas, strict=True)
            ],
        )

    def _header_template(
        self, *, stream_id: str, subject: str, moment: datetime, metadata: EventMetadata, history: bool = False
    ) -> dict[str, str]:
        """The CloudEvents headers every event of one stream's append shares.

        The statement completes them per event (``ce_id``, ``ce_type``, ``ce_streamversion``), so no
        envelope is built per event.
        """
        extra = {ACTOR_HEADER: metadata.actor} if metadata.actor else {}
        if history:
            extra[HISTORY_HEADER] = HISTORY_IMPORT
        return Envelope(
            id=_NIL,
            type="",
            source=self.source,
            subject=subject,
            time=moment,
            data=b"",
            correlation_id=metadata.correlation_id,
            causation_id=metadata.causation_id,
            stream_id=stream_id,
            stream_version=0,
            traceparent=metadata.traceparent,
            extra=extra,
        ).header_map()

    async def stream_version(self, conn: asyncpg.Connection, stream_id: str) -> int:
        """The stream's head: the version to pass as ``expected_version`` (0 for a stream not started)."""
        value = await conn.fetchval("select coalesce(max(version), 0) from events where stream_id = $1", stream_id)
        return int(value)

    async def stream_heads(self, conn: asyncpg.Connection, stream_type: str) -> dict[str, int]:
        """Every stream of one type and its head, in one query (a read-model rebuild carries them over)."""
        rows = await conn.fetch(
            "select stream_id, max(version) as version from events where stream_type = $1 group by stream_id",
            stream_type,
        )
        return {r["stream_id"]: r["version"] for r in rows}

    async def load_sealed(self, conn: asyncpg.Connection, stream_ids: Sequence[str]) -> dict[str, list[DomainEvent]]:
        """Several streams' events with one query, by stream id then version, personal fields left sealed.

        For readers that rehydrate many aggregates only to decide on times and flags (a ticket's SLA
        rules): they never read the personal free text, so no data key is fetched and an erased
        subject's streams load like any other. A stream without events is absent from the result.
        """
        rows = await conn.fetch(
            "select stream_id, event_type, event_version, data from events"
            " where stream_id = any($1::text[]) order by stream_id, version",
            list(stream_ids),
        )
        return self._sealed_histories(rows)

    async def load_type_sealed(
        self,
        conn: asyncpg.Connection,
        stream_type: str,
        *,
        event_types: Sequence[str],
        opened: tuple[str, datetime] | None = None,
    ) -> dict[str, list[DomainEvent]]:
        """Every stream of one type (only its ``event_types``), by stream id then version, personal fields sealed.

        ``opened=(event_type, moment)`` keeps only the streams with an event of that type that occurred
        at or after ``moment`` (the tickets opened since a date). For replays over a whole history that
        read times and flags only, like ``load_sealed``.
        """
        opened_type, since = opened if opened is not None else (None, None)
        rows = await conn.fetch(
            """select e.stream_id, e.event_type, e.event_version, e.data from events e
               where e.stream_type = $1 and e.event_type = any($2::text[])
                 and ($4::timestamptz is null or e.stream_id in (
                     select o.stream_id from events o where o.stream_type = $1
                       and o.event_type = $3 and o.occurred_at >= $4))
               order by e.stream_id, e.version""",
            stream_type,
            list(event_types),
            opened_type,
            since,
        )
        return self._sealed_histories(rows)

    async def load_with_times(
        self, conn: asyncpg.Connection, stream_ids: Sequence[str], *, opened: bool = False
    ) -> dict[str, list[tuple[DomainEvent, datetime]]]:
        """Several streams' events with when each occurred, in one query; personal fields sealed unless ``opened``.

        For a bulk import deciding on many aggregates at once: it compares the source's values with
        the recorded ones (so it must open them: a sealed value never equals a plain one) and judges
        each record on the aggregate as it was when that record happened.
        """
        rows = await conn.fetch(
            "select stream_id, subject, event_type, event_version, data, occurred_at from events"
            " where stream_id = any($1::text[]) order by stream_id, version",
            list(stream_ids),
        )
        keys = await self.keys.existing_keys(conn, {r["subject"] for r in rows}) if opened and rows else {}
        histories: dict[str, list[tuple[DomainEvent, datetime]]] = {}
        for r in rows:
            data = r["data"]
            personal = self.catalog.model(r["event_type"], r["event_version"]).personal_fields() if opened else ()
            if personal:
                data = decrypt_fields(data, personal, keys.get(r["subject"]), r["subject"])
            histories.setdefault(r["stream_id"], []).append(
                (self.catalog.decode(r["event_type"], r["event_version"], data), r["occurred_at"])
            )
        return histories

    def _sealed_histories(self, rows: Sequence[asyncpg.Record]) -> dict[str, list[DomainEvent]]:
        histories: dict[str, list[DomainEvent]] = {}
        for r in rows:
            histories.setdefault(r["stream_id"], []).append(
                self.catalog.decode(r["event_type"], r["event_version"], r["data"])
            )
        return histories

    async def load(
        self, conn: asyncpg.Connection, stream_id: str, *, after_version: int = 0, up_to: datetime | None = None
    ) -> list[RecordedEvent]:
        """The stream's events in version order (optionally only those recorded up to ``up_to``)."""
        rows = await conn.fetch(
            f"select {_COLUMNS} from events where stream_id = $1 and version > $2"
            " and ($3::timestamptz is null or recorded_at <= $3) order by version",
            stream_id,
            after_version,
            up_to,
        )
        return await self._decode_rows(conn, rows)

    async def load_subject(self, conn: asyncpg.Connection, subject: str) -> list[RecordedEvent]:
        """Every event about one subject (customer), in the order they were recorded."""
        rows = await conn.fetch(f"select {_COLUMNS} from events where subject = $1 order by position", subject)
        return await self._decode_rows(conn, rows)

    async def read_all(
        self, conn: asyncpg.Connection, *, after: Checkpoint | None = None, limit: int = 1000
    ) -> tuple[list[RecordedEvent], Checkpoint | None]:
        """Events in commit order after ``after``; returns them and the checkpoint to resume from.

        Rows of transactions that may still be running are held back until they finish, so no
        row ever appears "behind" a checkpoint that was already handed out.
        """
        start = after or Checkpoint(0, 0)
        rows = await conn.fetch(
            f"select {_COLUMNS}, tx_id::text::bigint as tx from events"
            " where (tx_id, position) > ($1::text::xid8, $2)"
            " and tx_id < pg_snapshot_xmin(pg_current_snapshot())"
            " order by tx_id, position limit $3",
            str(start.tx_id),
            start.position,
            limit,
        )
        if not rows:
            return [], after
        last = rows[-1]
        return await self._decode_rows(conn, rows), Checkpoint(last["tx"], last["position"])

    async def _decode_rows(self, conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]) -> list[RecordedEvent]:
        keys: dict[str, bytes] = {}
        needs_keys = {
            r["subject"] for r in rows if self.catalog.model(r["event_type"], r["event_version"]).personal_fields()
        }
        if needs_keys:
            keys = await self.keys.existing_keys(conn, needs_keys)
        result = []
        for r in rows:
            data = r["data"]
            personal = self.catalog.model(r["event_type"], r["event_version"]).personal_fields()
            if personal:
                data = decrypt_fields(data, personal, keys.get(r["subject"]), r["subject"])
            result.append(
                RecordedEvent(
                    position=r["position"],
                    event_id=r["event_id"],
                    stream_id=r["stream_id"],
                    stream_type=r["stream_type"],
                    version=r["version"],
                    event=self.catalog.decode(r["event_type"], r["event_version"], data),
                    subject=r["subject"],
                    occurred_at=r["occurred_at"],
                    recorded_at=r["recorded_at"],
                    metadata=r["metadata"],
                )
            )
        return result


def _event_columns(
    streams: Sequence[StreamEvents], keys: dict[str, bytes | None]
) -> tuple[list[int], list[int], list[UUID], list[str], list[int], list[str], list[str]]:
    """One entry per event, in stream order: its stream (1-based), its step past the head, id, type and JSON."""
    columns: tuple[list[int], list[int], list[UUID], list[str], list[int], list[str], list[str]] = (
        [],
        [],
        [],
        [],
        [],
        [],
        [],
    )
    stream_no, steps, ids, types, type_versions, ce_types, payloads = columns
    for number, stream in enumerate(streams, start=1):
        key = keys.get(stream.subject)
        for step, event in enumerate(stream.events, start=1):
            stream_no.append(number)
            steps.append(step)
            ids.append(uuid7())
            types.append(event.event_type)
            type_versions.append(event.event_version)
            ce_types.append(event.ce_type())
            payloads.append(_sealed_json(event, key, stream.subject))
    return columns


async def _pieces(data: bytes, size: int = 1 << 20) -> AsyncIterator[memoryview]:
    """COPY data for asyncpg in 1 MB pieces, read in place.

    Not a file object: asyncpg reads one through a thread per 512 KB and a class it defines per call,
    a reference cycle that kept each batch's COPY buffer (megabytes) alive until the next collection
    of the garbage collector (found raising ``c360 import``'s young-generation threshold: RSS +95 MB).
    """
    view = memoryview(data)
    for start in range(0, len(view), size):
        yield view[start : start + size]


_NO_OFFSET = timedelta(0)


def _utc_text(moment: datetime) -> bytes:
    """``format_time(moment)`` as bytes; a moment already in UTC (nearly every one) is written directly.

    ``format_time`` converts every moment to UTC and drops its zone before writing it (1.5 us);
    for an offset of zero the ISO text differs only in its ``+00:00`` (0.9 us).
    """
    if moment.utcoffset() == _NO_OFFSET:
        return moment.isoformat(timespec="microseconds")[:-6].encode() + b"Z"
    return format_time(moment).encode()


def _copy_bytes(value: bytes) -> bytes:
    """UTF-8 text as one cell of ``COPY ... (format text)``: backslash, tab and line breaks escaped."""
    if b"\\" in value or b"\t" in value or b"\n" in value or b"\r" in value:
        return value.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\n", b"\\n").replace(b"\r", b"\\r")
    return value


def _bytea_cell(value: bytes) -> bytes:
    """Bytes as a ``bytea`` cell of ``COPY ... (format text)`` in the escape format, not hex.

    Half the size of ``\\x`` hex for JSON and ids (the outbox's payload and key were two thirds of
    the bytes each import sent). Every byte but a backslash is itself in that format; a backslash is
    ``\\\\`` there, so ``\\\\\\\\`` in COPY text. Used only for JSON and ids, which hold no NUL,
    raw tab or line break.
    """
    return value.replace(b"\\", b"\\\\\\\\") if b"\\" in value else value


def _copy_text(value: str) -> str:
    """A value as one cell of ``COPY ... (format text)``: backslash, tab and line breaks escaped."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


class Outbox:
    """Queue any message for Kafka inside the caller's transaction (e.g. message requests)."""

    async def enqueue(
        self,
        conn: asyncpg.Connection,
        *,
        topic: str,
        key: str | None,
        headers: dict[str, str],
        payload: bytes,
    ) -> None:
        await conn.execute(
            "insert into outbox (topic, key, headers, payload) values ($1, $2, $3, $4)",
            topic,
            key.encode() if key is not None else None,
            headers,
            payload,
        )

    async def enqueue_envelope(self, conn: asyncpg.Connection, topic: str, envelope: Envelope) -> None:
        await self.enqueue(
            conn, topic=topic, key=envelope.subject, headers=envelope.header_map(), payload=envelope.data
        )

    async def enqueue_envelopes(self, conn: asyncpg.Connection, topic: str, envelopes: Sequence[Envelope]) -> None:
        """Queue many envelopes with one statement, in their order (a sweep's message requests)."""
        if not envelopes:
            return
        await conn.execute(
            """insert into outbox (topic, key, headers, payload)
               select $1, m.key, m.headers::jsonb, m.payload
               from unnest($2::bytea[], $3::text[], $4::bytea[]) with ordinality as m(key, headers, payload, n)
               order by m.n""",
            topic,
            [e.subject.encode() for e in envelopes],
            [orjson.dumps(e.header_map()).decode() for e in envelopes],
            [e.data for e in envelopes],
        )
