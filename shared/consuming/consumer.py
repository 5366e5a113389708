"""The consumer kit: decode, dead-letter, batch, deduplicate, apply — for every projection.

A *projector* turns events into read-model rows. The kit guarantees it sees each event at most
once, however often Kafka redelivers (restarts, rebalances, rewound offsets, relay republishing):

1. **Decode** each record with the one codec (``shared.events.envelope``) and validate its data against the
   catalog, upcasting old versions. Anything undecodable, invalid, of an unknown type or of a
   version newer than this reader knows goes to ``<topic>.dlq`` with headers saying why and where
   it came from; the partition keeps flowing.
2. **Deduplicate and apply in one transaction.** The batch's event ids are inserted into the
   ``inbox`` table (``on conflict do nothing``); only ids that were new are handed to the projector,
   and the inbox rows commit or roll back together with the projector's writes. A replay is a no-op.
3. **Never lose a batch.** Transient failures (database or broker down) are retried with backoff
   and the batch is not acknowledged until applied. Any other failure is narrowed down by applying
   events one at a time: the ones that still fail are dead-lettered with ``apply_failed``.

Faust acknowledges a ``take_events`` batch when the body returns (even by exception), so the body
must not raise: ``BatchProcessor.process`` only returns once every event is applied or
dead-lettered.

Two calls of ``process`` may overlap (the batch transport hands the next fetch over while the
previous one is applied, ``shared.consuming.batch_transport``): the next batch is decoded meanwhile,
in slices that let the applying batch's statements go on, and the batches are *applied* one at a
time, in the order their calls began.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from shared.events.catalog import (
    CATALOG,
    Catalog,
    DomainEvent,
    InvalidEventData,
    UnknownEventType,
    parse_ce_type,
)
from shared.events.envelope import Envelope, EnvelopeError, decode_kafka, format_time, to_kafka
from shared.ops.gctuning import collections_after_the_batch
from shared.ops.logging import causation_id_var, correlation_id_var
from shared.outbox.topics import dlq_of
from shared.shredding import PREFIX as ENCRYPTED_PREFIX
from shared.shredding import decrypt_fields, is_encrypted
from shared.store.db import TRANSIENT_DATABASE_ERRORS

log = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = TRANSIENT_DATABASE_ERRORS


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A Kafka record as the transport delivered it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """A decoded event: its envelope, its payload as the latest model version, and its origin."""

    envelope: Envelope
    event: DomainEvent
    topic: str = ""
    partition: int = 0
    offset: int = 0

    @property
    def event_type(self) -> str:
        return self.event.event_type

    @property
    def event_id(self) -> UUID:
        return self.envelope.id

    @property
    def subject(self) -> str:
        return self.envelope.subject

    @property
    def time(self) -> datetime:
        return self.envelope.time


class Projector(Protocol):
    """Applies events to a read model. ``name`` is its consumer group and inbox key.

    A projector may also declare ``event_types``, the event types its ``apply`` acts on (see
    ``wanted_types``): the kit then passes over records of other types by their ``ce_type`` header,
    without decoding them (they are acknowledged with the batch; a malformed one is for the
    consumers that read it to dead-letter).
    """

    name: str

    async def apply(self, conn: asyncpg.Connection, events: Sequence[ReceivedEvent]) -> None: ...


class KeyProvider(Protocol):
    """Supplies per-subject data keys to open personal fields (``shared.shredding``)."""

    async def keys_for(self, source: str, subjects: set[str]) -> Mapping[str, bytes]: ...


class PoisonRecord(Exception):
    """A record that can never be applied; ``reason`` is a short machine-readable word."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


DeadLetterSink = Callable[[RawRecord, str, str], Awaitable[None]]


def dead_letter_headers(record: RawRecord, consumer: str, reason: str, detail: str) -> list[tuple[str, bytes]]:
    """The original headers plus ``dlq_*`` headers saying why and where the record came from."""
    extra = {
        "dlq_reason": reason,
        "dlq_detail": detail[:2000],
        "dlq_consumer": consumer,
        "dlq_original_topic": record.topic,
        "dlq_original_partition": str(record.partition),
        "dlq_original_offset": str(record.offset),
        "dlq_time": format_time(datetime.now(UTC)),
    }
    kept = [(k, v) for k, v in record.headers if not k.startswith("dlq_")]
    return kept + [(k, v.encode()) for k, v in extra.items()]


def decode_record(record: RawRecord, catalog: Catalog = CATALOG) -> tuple[Envelope, dict[str, Any]]:
    """Envelope and raw data dict of a record; ``PoisonRecord`` for anything malformed."""
    try:
        return decode_kafka(record.key, record.value, record.headers)
    except EnvelopeError as exc:
        raise PoisonRecord(exc.reason, exc.detail) from None


def validate(envelope: Envelope, data: dict[str, Any], catalog: Catalog = CATALOG) -> DomainEvent:
    name = envelope.type_name
    try:
        return catalog.decode(name.event_type, name.version, data)
    except UnknownEventType as exc:
        raise PoisonRecord("unknown_version" if "newer" in str(exc) else "unknown_type", str(exc)) from None
    except InvalidEventData as exc:
        raise PoisonRecord("invalid_data", f"{exc}; {exc.errors[:3]}") from None


_SEALED_MARK = ENCRYPTED_PREFIX.encode()


def _may_be_sealed(value: bytes | None) -> bool:
    """Whether a record's JSON could hold a sealed field: its prefix, or an escape that could spell it.

    Why: most events carry no personal field, and looking for the prefix in the raw bytes (one C
    search) costs less than testing every value of the parsed data (profiled, issue 17).
    """
    return value is None or _SEALED_MARK in value or b"\\u" in value


def wanted_types(projector: Projector) -> frozenset[str] | None:
    """The event types ``projector`` acts on, or None for every type (the default).

    Why: ticketing's customer replica reads ``customer.events`` for six types of ~25 and decoded all
    of them; during a bulk import that was most of its 65 s of CPU (onboarding benchmark, issue 18).
    """
    types: frozenset[str] | None = getattr(projector, "event_types", None)
    return types


def _passed_over(record: RawRecord, wanted: frozenset[str]) -> bool:
    """Whether the record's ``ce_type`` names a well-formed type outside ``wanted`` (else it is decoded)."""
    for name, value in record.headers:
        if name == "ce_type":
            try:
                return parse_ce_type(value.decode()).event_type not in wanted
            except (ValueError, UnicodeDecodeError):
                return False
    return False


@dataclass
class ProcessorStats:
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    passed_over: int = 0
    """Records of types the projector does not act on (``Projector.event_types``), never decoded."""
    batches: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


DECODE_SLICE = 256
"""Records decoded between two chances for other tasks to run (see ``BatchProcessor._decode``)."""


class _Turns:
    """Turns to apply, in the order they were taken: a batch decodes at once and applies in its turn.

    ``take()`` is entered when a batch arrives; the ``apply_in_turn`` it yields returns once every
    batch that arrived before has finished (applied, dead-lettered, or failed and left its turn).
    """

    def __init__(self) -> None:
        self._last: asyncio.Future[None] | None = None

    @contextlib.asynccontextmanager
    async def take(self) -> AsyncIterator[Callable[[], Awaitable[None]]]:
        before = self._last
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last = mine

        async def apply_in_turn() -> None:
            if before is not None:
                await asyncio.shield(before)

        try:
            yield apply_in_turn
        finally:
            # a batch that leaves early (cancelled while waiting) still ends its turn only after the ones before
            if before is None or before.done():
                _end_turn(mine)
            else:
                before.add_done_callback(lambda _: _end_turn(mine))
            if self._last is mine and mine.done():
                self._last = None


def _end_turn(turn: asyncio.Future[None]) -> None:
    if not turn.done():
        turn.set_result(None)


@dataclass(eq=False, kw_only=True)
class BatchProcessor:
    """Transport-independent core of the kit: one call per batch of raw records.

    A dataclass for its keyword-only constructor; ``eq=False`` keeps identity equality (two
    processors over the same pool are still two consumers).
    """

    pool: asyncpg.Pool
    projector: Projector
    dead_letter: DeadLetterSink
    catalog: Catalog = CATALOG
    keys: KeyProvider | None = None
    metrics: Any | None = None
    retry_initial: float = 0.2
    retry_max: float = 5.0
    stats: ProcessorStats = field(init=False, default_factory=ProcessorStats)
    wanted: frozenset[str] | None = field(init=False)
    _turns: _Turns = field(init=False, default_factory=_Turns)

    def __post_init__(self) -> None:
        self.wanted = wanted_types(self.projector)

    async def process(self, records: Sequence[RawRecord]) -> None:
        """Apply or dead-letter every record; returns only when all are settled.

        Overlapping calls decode at the same time and apply one after the other, in call order.
        """
        async with self._turns.take() as apply_in_turn:
            decoded = await self._decode(records)
            await apply_in_turn()
            with collections_after_the_batch():  # see shared/ops/gctuning.py
                if decoded:
                    await self._apply_with_retry(decoded)
                self.stats.batches += 1

    async def _decode(self, records: Sequence[RawRecord]) -> list[tuple[RawRecord, ReceivedEvent]]:
        """Decode, validate and open the records; poison goes to the dead-letter topic on the way.

        Every ``DECODE_SLICE`` records it lets other tasks run: a batch being applied meanwhile sends
        its next statement as soon as the previous one answered, so the server works on it while
        this batch is decoded.
        """
        decoded: list[tuple[RawRecord, ReceivedEvent]] = []
        pending: list[tuple[RawRecord, Envelope, dict[str, Any]]] = []
        wanted = self.wanted
        for index, record in enumerate(records):
            if index % DECODE_SLICE == DECODE_SLICE - 1:
                await asyncio.sleep(0)
            if wanted is not None and _passed_over(record, wanted):
                self.stats.passed_over += 1
                continue
            try:
                envelope, data = decode_record(record, self.catalog)
            except PoisonRecord as poison:
                await self._dead_letter(record, poison.reason, poison.detail)
                continue
            pending.append((record, envelope, data))
        pending = await self._open_personal_fields(pending)
        for index, (record, envelope, data) in enumerate(pending):
            if index % DECODE_SLICE == DECODE_SLICE - 1:
                await asyncio.sleep(0)
            try:
                event = validate(envelope, data, self.catalog)
            except PoisonRecord as poison:
                await self._dead_letter(record, poison.reason, poison.detail)
                continue
            decoded.append((record, ReceivedEvent(envelope, event, record.topic, record.partition, record.offset)))
        return decoded

    async def _open_personal_fields(
        self, pending: list[tuple[RawRecord, Envelope, dict[str, Any]]]
    ) -> list[tuple[RawRecord, Envelope, dict[str, Any]]]:
        # Without a key provider, sealed personal fields read as None: never as their ciphertext.
        wanted: dict[str, set[str]] = {}
        for record, envelope, data in pending:
            if _may_be_sealed(record.value) and any(is_encrypted(v) for v in data.values()):
                wanted.setdefault(envelope.source, set()).add(envelope.subject)
        if not wanted:
            return pending
        keys: dict[tuple[str, str], bytes] = {}
        if self.keys is not None:
            for source, subjects in wanted.items():
                found = await self.keys.keys_for(source, subjects)
                keys.update({(source, s): k for s, k in found.items()})
        opened = []
        for record, envelope, data in pending:
            fields = [k for k, v in data.items() if is_encrypted(v)] if _may_be_sealed(record.value) else []
            if fields:
                data = decrypt_fields(data, fields, keys.get((envelope.source, envelope.subject)), envelope.subject)
            opened.append((record, envelope, data))
        return opened

    async def _apply_with_retry(self, decoded: list[tuple[RawRecord, ReceivedEvent]]) -> None:
        delay = self.retry_initial
        while True:
            try:
                await self._apply(decoded)
                return
            except TRANSIENT_ERRORS as exc:
                log.warning(
                    "transient failure applying a batch; retrying",
                    extra={"consumer": self.projector.name, "error": repr(exc), "retry_in_s": delay},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
            except Exception as exc:
                if len(decoded) == 1:
                    record, received = decoded[0]
                    log.error(
                        "event could not be applied; dead-lettering",
                        extra={"consumer": self.projector.name, "event_id": str(received.event_id), "error": repr(exc)},
                    )
                    await self._dead_letter(record, "apply_failed", repr(exc))
                    return
                for single in decoded:
                    await self._apply_with_retry([single])
                return

    async def _apply(self, decoded: list[tuple[RawRecord, ReceivedEvent]]) -> None:
        unique: dict[UUID, ReceivedEvent] = {}
        for _, received in decoded:
            unique.setdefault(received.event_id, received)
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "insert into inbox (consumer, event_id) select $1, unnest($2::uuid[])"
                " on conflict do nothing returning event_id",
                self.projector.name,
                list(unique),
            )
            fresh_ids = {r["event_id"] for r in rows}
            fresh = [e for e in unique.values() if e.event_id in fresh_ids]
            if fresh:
                token_c = correlation_id_var.set(fresh[-1].envelope.correlation_id)
                token_k = causation_id_var.set(str(fresh[-1].event_id))
                try:
                    await self.projector.apply(conn, fresh)
                finally:
                    correlation_id_var.reset(token_c)
                    causation_id_var.reset(token_k)
        self.stats.applied += len(fresh)
        self.stats.duplicates += len(decoded) - len(fresh)
        for event in fresh:
            self.stats.by_type[event.event_type] = self.stats.by_type.get(event.event_type, 0) + 1
            if self.metrics is not None:
                self.metrics.events_applied.labels(consumer=self.projector.name, event_type=event.event_type).inc()

    async def _dead_letter(self, record: RawRecord, reason: str, detail: str) -> None:
        delay = self.retry_initial
        while True:
            try:
                await self.dead_letter(record, reason, detail)
                self.stats.dead_lettered += 1
                log.warning(
                    "record dead-lettered",
                    extra={
                        "consumer": self.projector.name,
                        "reason": reason,
                        "topic": record.topic,
                        "partition": record.partition,
                        "offset": record.offset,
                    },
                )
                return
            except TRANSIENT_ERRORS as exc:
                log.warning("dead-letter topic unavailable; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)


async def apply_records(
    pool: asyncpg.Pool,
    projector: Projector,
    records: Sequence[RawRecord],
    *,
    catalog: Catalog = CATALOG,
    keys: KeyProvider | None = None,
) -> list[tuple[RawRecord, str, str]]:
    """Run records through the kit without Kafka (tests); returns what would be dead-lettered."""
    dead: list[tuple[RawRecord, str, str]] = []

    async def sink(record: RawRecord, reason: str, detail: str) -> None:
        dead.append((record, reason, detail))

    await BatchProcessor(pool=pool, projector=projector, dead_letter=sink, catalog=catalog, keys=keys).process(records)
    return dead


def record_for(envelope: Envelope, *, topic: str = "", partition: int = 0, offset: int = 0) -> RawRecord:
    """The raw record a producer would write for ``envelope`` (tests, replays)."""
    key, value, headers = to_kafka(envelope)
    return RawRecord(topic, partition, offset, key, value, headers)


def dlq_topic_for(topic: str) -> str:
    return dlq_of(topic)
