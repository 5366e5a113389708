"""The set-based rebuild: read the log once in large batches, fold each customer once, load with COPY.

Why not replay through the projector (``method="replay"``)? The projector is built for a stream:
per batch it locks, loads, folds and writes back the customers the batch touches, so a customer with
forty events spread over the log is loaded and written up to forty times. A rebuild knows the whole
history up front, so ``SetRebuild``:

1. takes each large batch the reader fetched and decodes it with the consumer kit's own checks
   (the same decoding, dead-lettering, key access and upcasting as live) but deduplicates in memory
   instead of one ``inbox`` insert per batch: the inbox is loaded with ``COPY`` (every applied
   event, so the live worker never applies one twice after the swap);
2. groups as it goes: each event's fact is appended to its origin's list, its timeline row is
   copied into the shadow schema at once (owner = origin for now) and its KPI facts are written
   with the live projector's own set-based statements; the raw records are not kept;
3. at the end resolves merges and unmerges in ``(time, id)`` order to each origin's final owner
   (``model.aliases_at``, what ``customer_aliases`` holds after the live projector applied them),
   folds each owner once with the live fold (``model.fold``), in ``workers`` forked processes that
   share the grouped facts copy-on-write, and evaluates the time-based rules at the rebuild's
   ``now`` exactly as the sweep would;
4. loads the views, aliases and co-purchase totals with ``COPY``, re-points the timeline rows of
   merged duplicates at their owner in one statement, redacts erased customers' events in one
   statement, and only then builds the secondary indexes it dropped before the first row.

Measured at 101,139 events (docs/performance.md): the kafka-python reader cost 95 µs of CPU per
event and the per-batch inbox insert most of the kit's 65; aiokafka's batched fetches cost 9.
The fold (the pure domain's ``evaluate`` after every event) is what remains, hence the processes.

The catch-up and the swap are ``rebuild.py``'s. The result equals the live projection table by
table (``tests/analytics/integration/test_set_rebuild_equals_live.py``).
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from services.analytics.adapters import readmodel as rm
from services.analytics.application.projector import (
    _Batch,
    _canonical_id,
    _new_pairs,
    _personal_fields,
    collect_kpis,
    view_row,
    write_kpis,
)
from services.analytics.domain import model
from services.analytics.domain.model import Fact, State
from services.analytics.domain.rules import AnalyticsRules
from shared.consuming.consumer import (
    BatchProcessor,
    DeadLetterSink,
    KeyProvider,
    PoisonRecord,
    RawRecord,
    ReceivedEvent,
    decode_record,
    validate,
)
from shared.events.catalog import DomainEvent
from shared.events.envelope import Envelope
from shared.shredding import is_encrypted

MOVES = ("CustomersMerged", "CustomersUnmerged")
TIMELINE_COLUMNS = ["event_id", "customer_id", "origin", "event_type", "domain", "occurred_at", "data",
                    "correlation_id"]
VIEW_COLUMNS = ["customer_id", "state", "merged_into", "status", "lifecycle_stage", "churn_band", "churn_score",
                "value_tier", "clv", "segments", "name_search", "acquisition_channel", "customer_since",
                "dissolved_at", "last_event_at", "signal_version"]
FOLD_CHUNK = 2_000
"""Owners per unit of work handed to a fold process (small enough for a smooth progress bar)."""


class _Decoder(BatchProcessor):
    """The kit's decoding with its key provider, for the records whose personal fields are sealed.

    ``BatchProcessor.process`` decodes, opens personal fields, validates and then calls ``_apply``
    with what survived; this ``_apply`` hands them over without the inbox round trip: ``SetRebuild``
    keeps the first delivery of each event id, as the inbox's ``on conflict do nothing`` does, and
    copies the inbox rows itself.
    """

    def __init__(self, *, pool: Any, name: str, dead_letter: DeadLetterSink, keys: KeyProvider | None) -> None:
        super().__init__(pool=pool, projector=_Named(name), dead_letter=dead_letter, keys=keys)
        self.fresh: list[ReceivedEvent] = []

    async def _apply(self, decoded: list[tuple[RawRecord, ReceivedEvent]]) -> None:
        self.fresh.extend(received for _, received in decoded)


@dataclass(slots=True)
class _Named:
    name: str

    async def apply(self, conn: asyncpg.Connection, events: Sequence[ReceivedEvent]) -> None:
        raise NotImplementedError  # never called: _Decoder._apply hands events over itself


@dataclass(frozen=True, slots=True)
class Decoded:
    """What the rebuild keeps of a decoded event, nothing of the pydantic model."""

    event_id: UUID
    event_type: str
    domain: str
    time: datetime
    data: dict[str, Any]
    """The event as the latest model version dumps it to JSON (what the live projector folds and stores)."""
    correlation_id: str | None


DecodedBatch = tuple[list[Decoded], list[tuple[RawRecord, str, str]], list[RawRecord]]
"""Decoded events, poison records with their reason and detail, records with sealed personal fields."""


def _decoded(envelope: Envelope, event: DomainEvent) -> Decoded:
    return Decoded(envelope.id, event.event_type, event.domain, envelope.time, event.model_dump(mode="json"),
                   envelope.correlation_id)


def decode_batch(records: Sequence[RawRecord]) -> DecodedBatch:
    """The consumer kit's checks (envelope, catalog, upcasting) without its per-batch machinery.

    Records with sealed personal fields are handed back: opening them needs the key provider
    (``SetRebuild`` runs them through the kit itself).
    """
    rows: list[Decoded] = []
    poison: list[tuple[RawRecord, str, str]] = []
    sealed: list[RawRecord] = []
    for record in records:
        try:
            envelope, data = decode_record(record)
            if any(is_encrypted(v) for v in data.values()):
                sealed.append(record)
                continue
            rows.append(_decoded(envelope, validate(envelope, data)))
        except PoisonRecord as bad:
            poison.append((record, bad.reason, bad.detail))
    return rows, poison, sealed


def forked_processes(workers: int) -> ProcessPoolExecutor:
    """Forked processes for pure work (decoding, folding): they never touch the parent's event loop."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))


@dataclass(slots=True)
class Grouped:
    """What the read keeps: facts by origin, the identity changes, and nothing of the raw records."""

    by_origin: dict[str, list[Fact]] = field(default_factory=dict)
    moves: list[Fact] = field(default_factory=list)
    events: int = 0


@dataclass(frozen=True, slots=True)
class FoldedPart:
    """One fold process's answer: view rows ready for ``COPY`` and what the load needs besides."""

    views: list[tuple[Any, ...]]
    dissolutions: list[tuple[str, str]]
    pairs: dict[tuple[str, str], int]
    erased: set[str]
    swept: int
    events: int


@dataclass(frozen=True, slots=True)
class Ownership:
    """Who owns each origin's events at the end of the log, and which survivor each duplicate names."""

    aliases: dict[str, str]
    merged_into: dict[str, str | None]
    owners: list[str]
    origins_of: dict[str, list[str]]


def resolve_owners(grouped: Grouped) -> Ownership:
    """Final owners: merges and unmerges applied in ``(time, id)`` order, as the live projector leaves them."""
    moves = sorted(grouped.moves, key=lambda f: (f.at, f.event_id))
    aliases = model.aliases_at(moves)
    merged_into: dict[str, str | None] = {}
    for move in moves:  # the view of a duplicate names the survivor of its own last merge (live: batch.merged_into)
        merged_into[str(move.data["duplicate_id"])] = move.origin if move.event_type == "CustomersMerged" else None
    origins_of: dict[str, list[str]] = {customer: [] for customer in merged_into}
    for origin in grouped.by_origin:
        origins_of.setdefault(aliases.get(origin, origin), []).append(origin)
        origins_of.setdefault(origin, [])
    return Ownership(aliases, merged_into, list(origins_of), origins_of)


def merged_before_erasure(aliases: dict[str, str], grouped: Grouped) -> dict[str, str]:
    """The aliases whose survivor's erasure forgets the duplicate (the live ``rm.duplicates_of`` rule).

    A duplicate merged into a survivor after the survivor's first ``CustomerErased`` keeps its key
    and its personal fields; its latest ``CustomersMerged`` by that survivor decides. Aliases with no
    such merge (a chain) or a survivor never erased are kept.
    """
    merged_at: dict[tuple[str, str], datetime] = {}
    for move in grouped.moves:
        if move.event_type == "CustomersMerged":
            pair = (str(move.data["duplicate_id"]), move.origin)
            if pair not in merged_at or move.at > merged_at[pair]:
                merged_at[pair] = move.at
    kept: dict[str, str] = {}
    for duplicate, survivor in aliases.items():
        erasures = [f.at for f in grouped.by_origin.get(survivor, ()) if f.event_type == "CustomerErased"]
        merge = merged_at.get((duplicate, survivor))
        if not erasures or merge is None or merge <= min(erasures):
            kept[duplicate] = survivor
    return kept


def fold_owners(owners: Sequence[str], grouped: Grouped, ownership: Ownership, rules: AnalyticsRules,
                now: datetime) -> FoldedPart:
    """Fold each owner once over all its origins' facts and evaluate the time-based rules at ``now`` (pure)."""
    views: list[tuple[Any, ...]] = []
    dissolutions: list[tuple[str, str]] = []
    pairs: dict[tuple[str, str], int] = {}
    erased: set[str] = set()
    swept = events = 0
    for owner in owners:
        facts = [f for origin in ownership.origins_of[owner] for f in grouped.by_origin.get(origin, ())]
        events += len(facts)
        state = model.fold(owner, facts, rules)
        into = ownership.merged_into.get(owner)
        if into is None and state["status"] != "erased":
            evaluated = _swept(state, now, rules)
            swept += evaluated is not state
            state = evaluated
        if state["status"] == "erased":
            erased.add(owner)
        erased.update(state.get("erased_origins", ()))
        for a, b, _ in _new_pairs([([], model.owned_products(state))]):
            pairs[(a, b)] = pairs.get((a, b), 0) + 1
        v = view_row(state, merged_into=into, signal_version=0, state_json=orjson.dumps(state, default=str).decode())
        views.append((v.customer_id, v.state_json, v.merged_into, v.status, v.lifecycle_stage, v.churn_band,
                      v.churn_score, v.value_tier, v.clv, v.segments, v.name_search, v.acquisition_channel,
                      v.customer_since, v.dissolved_at, v.last_event_at, v.signal_version))
        if v.dissolutions != "{}":
            dissolutions.append((v.customer_id, v.dissolutions))
    return FoldedPart(views, dissolutions, pairs, erased, swept, events)


def _swept(state: State, now: datetime, rules: AnalyticsRules) -> State:
    """What the sweep at ``now`` would store: the re-evaluated state when its traits changed, else as is."""
    last = state["last_event_at"]
    if last is not None and model.parse_iso(last) >= now:
        return state
    after = model.evaluate(orjson.loads(orjson.dumps(state)), now, rules)
    return after if model.traits_summary(after) != model.traits_summary(state) else state


# What a forked fold process reads: set just before the pool forks, shared copy-on-write, never pickled.
_FORK_INPUT: tuple[Grouped, Ownership, AnalyticsRules, datetime] | None = None


def _fold_in_child(owners: Sequence[str]) -> FoldedPart:
    assert _FORK_INPUT is not None, "the fold pool must be forked after SetRebuild set its input"
    return fold_owners(owners, *_FORK_INPUT)


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


async def _binary_jsonb(conn: asyncpg.Connection) -> None:
    """``COPY`` is binary: jsonb travels as a version byte and the JSON text (pre-serialised text as is)."""

    def encode(value: Any) -> bytes:
        return b"\x01" + (value.encode() if isinstance(value, str) else orjson.dumps(value, default=str))

    def decode(value: bytes) -> Any:
        return orjson.loads(value[1:])

    await conn.set_type_codec("jsonb", encoder=encode, decoder=decode, schema="pg_catalog", format="binary")


async def secondary_indexes(conn: asyncpg.Connection, schema: str) -> list[str]:
    """Drop the schema's indexes that back no constraint; return their definitions to build after the load."""
    rows = await conn.fetch(
        """select i.indexname, i.indexdef from pg_indexes i
           where i.schemaname = $1
             and not exists (
                 select 1 from pg_constraint c
                 where c.conindid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass)
           order by i.indexname""",
        schema,
    )
    for row in rows:
        await conn.execute(f'drop index "{schema}"."{row["indexname"]}"')
    return [row["indexdef"] for row in rows]


async def autovacuum(conn: asyncpg.Connection, schema: str, *, enabled: bool) -> None:
    """Switch autovacuum off for the schema's tables during the load, and back to the server's settings.

    Why: a table filled by ``COPY`` crosses autovacuum's insert threshold again and again, and each
    pass (the table and its TOAST table) competed with the load for the same cores: about 10 s of a
    worker during a 117 s rebuild of a million events (``pg_stat_activity`` sampled every second).
    The rebuild analyses the tables it queries itself once the load is done; autovacuum takes over
    again from there, before the schema is swapped in.
    """
    tables = await conn.fetch("select tablename from pg_tables where schemaname = $1 order by tablename", schema)
    for row in tables:
        table = f'"{schema}"."{row["tablename"]}"'
        if enabled:
            await conn.execute(f"alter table {table} reset (autovacuum_enabled, toast.autovacuum_enabled)")
        else:
            await conn.execute(f"alter table {table} set (autovacuum_enabled = off, toast.autovacuum_enabled = off)")


class SetRebuild:
    """Reads batches into grouped facts and copied rows (``add``), then folds and loads the rest (``finish``).

    ``conn`` is a connection whose search path names the shadow ``schema``; nobody else writes there.
    """

    def __init__(
        self,
        conn: asyncpg.Connection,
        schema: str,
        *,
        consumer: str,
        rules: AnalyticsRules,
        dead_letter: DeadLetterSink,
        keys: KeyProvider | None = None,
        pool: asyncpg.Pool | None = None,
    ) -> None:
        self.conn = conn
        self.schema = schema
        self.consumer = consumer
        self.rules = rules
        self.decoder = _Decoder(pool=pool, name=consumer, dead_letter=dead_letter, keys=keys)
        self.seen: set[UUID] = set()
        self.writing: asyncio.Future[None] | None = None
        self.duplicates = 0
        self.grouped = Grouped()
        self.indexes: list[str] = []

    @property
    def dead_lettered(self) -> int:
        return self.decoder.stats.dead_lettered

    async def start(self) -> None:
        """Binary jsonb for ``COPY``; the secondary indexes and autovacuum go until the load is done."""
        await _binary_jsonb(self.conn)
        self.indexes = await secondary_indexes(self.conn, self.schema)
        await autovacuum(self.conn, self.schema, enabled=False)

    async def add(self, records: Sequence[RawRecord]) -> None:
        """Take one fetch: decode it with the kit's checks, then group, copy and count it.

        Decoding stays in this process: handing a fetch to a decode process and its events back
        (pickling) measured 40 µs per event, more than the decoding itself (26 µs).
        """
        await self._ingest(decode_batch(records))

    async def _ingest(self, decoded: DecodedBatch) -> None:
        """Group a decoded fetch's facts by origin, copy its timeline and inbox rows, write its KPI facts."""
        rows, poison, sealed = decoded
        for record, reason, detail in poison:
            await self.decoder._dead_letter(record, reason, detail)
        if sealed:  # personal fields need the key provider: the kit's own path, in this process
            await self.decoder.process(sealed)
            rows = rows + [_decoded(r.envelope, r.event) for r in self.decoder.fresh]
            self.decoder.fresh = []
        seen, by_origin, grouped = self.seen, self.grouped.by_origin, self.grouped
        timeline: list[tuple[Any, ...]] = []
        inbox: list[tuple[str, UUID]] = []
        kpis = _Batch()
        for row in rows:
            if row.event_id in seen:
                self.duplicates += 1
                continue
            seen.add(row.event_id)
            inbox.append((self.consumer, row.event_id))
            data = row.data
            value = data.get("customer_id")
            origin = _canonical_id(str(value)) if value is not None else None
            collect_kpis(kpis, row, data, origin)
            if origin is None:
                continue
            event_id, kind = str(row.event_id), row.event_type
            fact = Fact(event_id, kind, row.time, data, origin)
            facts = by_origin.get(origin)
            if facts is None:
                by_origin[origin] = [fact]
            else:
                facts.append(fact)
            if kind in MOVES:
                grouped.moves.append(fact)
            timeline.append((event_id, origin, origin, kind, row.domain, row.time, data, row.correlation_id))
        if not inbox:
            return
        grouped.events += len(inbox)
        # The server stores this fetch while this process decodes the next (one write in flight).
        await self.written()
        self.writing = asyncio.ensure_future(self._write(timeline, inbox, kpis))

    async def _write(self, timeline: list[tuple[Any, ...]], inbox: list[tuple[str, UUID]], kpis: _Batch) -> None:
        await self.conn.copy_records_to_table("customer_events", schema_name=self.schema,
                                              columns=TIMELINE_COLUMNS, records=timeline)
        await self.conn.copy_records_to_table("inbox", schema_name=self.schema, columns=["consumer", "event_id"],
                                              records=inbox)
        await write_kpis(self.conn, kpis)

    async def written(self) -> None:
        """Wait for the fetch being stored (its failure surfaces here)."""
        if self.writing is not None:
            writing, self.writing = self.writing, None
            await writing

    async def finish(self, now: datetime, *, workers: int = 1, progress: Any = None, chunk: int = FOLD_CHUNK) -> int:
        """Fold every owner once (in ``workers`` forked processes, ``chunk`` owners at a time), load the rest.

        Returns how many views the time-based rules changed at ``now`` (what the sweep would have written).
        """
        await self.written()
        ownership = resolve_owners(self.grouped)
        chunks = list(_chunks(ownership.owners, chunk))
        pairs: dict[tuple[str, str], int] = {}
        erased: set[str] = set()
        dissolutions: list[tuple[str, str]] = []
        swept = 0

        async def take(part: FoldedPart) -> None:
            nonlocal swept
            await self.conn.copy_records_to_table("customer_views", schema_name=self.schema,
                                                  columns=VIEW_COLUMNS, records=part.views)
            for pair, n in part.pairs.items():
                pairs[pair] = pairs.get(pair, 0) + n
            erased.update(part.erased)
            dissolutions.extend(part.dissolutions)
            swept += part.swept
            if progress is not None:
                progress.update(part.events)

        if workers <= 1 or len(chunks) <= 1:
            for owners in chunks:
                await take(fold_owners(owners, self.grouped, ownership, self.rules, now))
        else:
            await self._fold_in_processes(chunks, ownership, now, workers, take)

        if dissolutions:
            await self.conn.execute(
                """update customer_views c set dissolutions = e.ranges::tstzmultirange
                   from unnest($1::uuid[], $2::text[]) as e(customer_id, ranges)
                   where c.customer_id = e.customer_id""",
                [c for c, _ in dissolutions], [r for _, r in dissolutions],
            )
        await self.conn.copy_records_to_table("customer_aliases", schema_name=self.schema,
                                              columns=["duplicate_id", "survivor_id"],
                                              records=list(ownership.aliases.items()))
        if ownership.aliases:  # the timeline rows of merged duplicates belong to their final owner
            await self.conn.execute(
                """update customer_events e set customer_id = a.survivor_id
                   from customer_aliases a where e.origin = a.duplicate_id""")
        await self.conn.copy_records_to_table("co_purchase_totals", schema_name=self.schema,
                                              columns=["sku_a", "sku_b", "customers"],
                                              records=[(a, b, n) for (a, b), n in pairs.items()])
        survivors: dict[str, set[str]] = {}
        for duplicate, survivor in merged_before_erasure(ownership.aliases, self.grouped).items():
            survivors.setdefault(survivor, set()).add(duplicate)
        for person in list(erased):  # erased customers and their duplicates: their stored events too
            erased |= survivors.get(person, set())
        if erased:
            await rm.redact_events(self.conn, erased, _personal_fields())
            await rm.forget_nps_reasons(self.conn, erased)
        for definition in self.indexes:
            await self.conn.execute(definition)
        await autovacuum(self.conn, self.schema, enabled=True)
        await self.conn.execute(f'analyze "{self.schema}".customer_views')
        await self.conn.execute(f'analyze "{self.schema}".customer_events')
        self.grouped = Grouped()
        return swept

    async def _fold_in_processes(self, chunks: list[Sequence[str]], ownership: Ownership, now: datetime,
                                 workers: int, take: Any) -> None:
        """Fork ``workers`` processes that inherit the grouped facts; copy each chunk's views as it returns.

        Forked after the read, so the facts are shared copy-on-write and never pickled; only the
        view rows come back.
        """
        global _FORK_INPUT
        _FORK_INPUT = (self.grouped, ownership, self.rules, now)
        loop = asyncio.get_running_loop()
        try:
            with forked_processes(workers) as pool:
                pending = [loop.run_in_executor(pool, _fold_in_child, owners) for owners in chunks]
                for done in asyncio.as_completed(pending):
                    await take(await done)
        finally:
            _FORK_INPUT = None
