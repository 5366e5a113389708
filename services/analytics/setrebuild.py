"""The set-based rebuild: read the whole log, fold each customer once, load with COPY.

Why not replay through the projector (``rebuild.py``'s first version)? The projector is built for a
stream: per batch it locks, loads, folds and writes back the customers the batch touches, so a
customer with forty events spread over the log is loaded and written up to forty times. A rebuild
knows the whole history up front, so this module:

1. reads every domain topic up to the end offsets taken at the start, in large polls, through the
   consumer kit (the same decoding, dead-lettering, key access and ``inbox`` deduplication as live:
   the rebuilt inbox holds every applied event, so the live worker never applies one twice);
2. resolves merges and unmerges in ``(time, id)`` order to each event's final owner
   (``model.aliases_at``, what ``customer_aliases`` holds after the live projector applied them);
3. folds each customer once with the live fold (``model.fold``) and evaluates the time-based rules
   at the rebuild's ``now`` exactly as the sweep would;
4. loads the timeline and the views with ``COPY`` (``copy_records_to_table``) into the shadow
   schema, with its secondary indexes dropped first and rebuilt after the load; redacts erased
   customers' events in one statement; writes the KPI tables with the live projector's own
   set-based statements over the events in time order; counts co-purchases from the folded states.

The catch-up and the swap are ``rebuild.py``'s, unchanged. The result equals the live projection
table by table (``tests/analytics/unit/test_set_rebuild_equals_live.py``).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
from shared.consumer import ReceivedEvent

KPI_CHUNK = 20_000
"""Events per KPI statement group (the live projector's statements, bound with arrays)."""


@dataclass(slots=True)
class LoggedEvent:
    """What the rebuild keeps of one event: the timeline row and the fact, nothing of the pydantic model."""

    event_id: str
    event_type: str
    domain: str
    at: datetime
    data: dict[str, Any]
    origin: str | None
    correlation_id: str | None

    @property
    def sort_key(self) -> tuple[datetime, str]:
        return self.at, self.event_id


class LogCollector:
    """A ``Projector`` for the consumer kit that only keeps the fresh events (the kit wrote the inbox)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.events: dict[str, LoggedEvent] = {}

    async def apply(self, conn: asyncpg.Connection, events: Sequence[ReceivedEvent]) -> None:
        for received in events:
            data = received.event.model_dump(mode="json")
            value = data.get("customer_id")
            event_id = str(received.event_id)
            self.events[event_id] = LoggedEvent(
                event_id,
                received.event_type,
                received.event.domain,
                received.time,
                data,
                _canonical_id(str(value)) if value is not None else None,
                received.envelope.correlation_id,
            )


@dataclass(frozen=True, slots=True)
class Folded:
    """The rebuilt read model in memory, before it is loaded."""

    views: list[rm.ViewRow]
    timeline: list[tuple[Any, ...]]
    aliases: dict[str, str]
    co_purchases: dict[tuple[str, str], int]
    erased: set[str]
    """Everyone whose stored events must be redacted (erased customers and duplicates, theirs too)."""
    swept: int = 0
    """Views the time-based rules changed at the rebuild's ``now`` (what the sweep would have written)."""


def fold_all(
    events: Iterable[LoggedEvent], rules: AnalyticsRules, now: datetime, progress: Any = None
) -> Folded:
    """Group by final owner, fold each customer once, evaluate the time-based rules at ``now``.

    Pure (no I/O): the same answer the live projector stores, whatever order and batches it saw.
    """
    ordered = sorted(events, key=lambda e: e.sort_key)
    moves = [e for e in ordered if e.origin and e.event_type in ("CustomersMerged", "CustomersUnmerged")]
    aliases = model.aliases_at(Fact(e.event_id, e.event_type, e.at, e.data, e.origin or "") for e in moves)
    merged_into: dict[str, str | None] = {}
    for move in moves:  # the view of a duplicate names the survivor of its own last merge (live: batch.merged_into)
        duplicate = str(move.data["duplicate_id"])
        merged_into[duplicate] = move.origin if move.event_type == "CustomersMerged" else None

    owned: dict[str, list[Fact]] = {customer: [] for customer in merged_into}
    timeline: list[tuple[Any, ...]] = []
    for event in ordered:
        if event.origin is None:
            continue
        owner = aliases.get(event.origin, event.origin)
        owned.setdefault(owner, []).append(Fact(event.event_id, event.event_type, event.at, event.data, event.origin))
        owned.setdefault(event.origin, [])
        timeline.append(
            (event.event_id, owner, event.origin, event.event_type, event.domain, event.at, event.data,
             event.correlation_id)
        )

    views: list[rm.ViewRow] = []
    pairs: dict[tuple[str, str], int] = {}
    erased: set[str] = set()
    swept = 0
    for owner, facts in owned.items():
        state = model.fold(owner, facts, rules)
        into = merged_into.get(owner)
        if into is None and state["status"] != "erased":
            evaluated = _swept(state, now, rules)
            swept += evaluated is not state
            state = evaluated
        if state["status"] == "erased":
            erased.add(owner)
        erased.update(state.get("erased_origins", ()))
        for a, b, _ in _new_pairs([([], model.owned_products(state))]):
            pairs[(a, b)] = pairs.get((a, b), 0) + 1
        views.append(view_row(state, merged_into=into, signal_version=0,
                              state_json=orjson.dumps(state, default=str).decode()))
        if progress is not None:
            progress.update(len(facts))
    survivors: dict[str, set[str]] = {}
    for duplicate, survivor in aliases.items():
        survivors.setdefault(survivor, set()).add(duplicate)
    for person in list(erased):
        erased |= survivors.get(person, set())
    return Folded(views, timeline, aliases, pairs, erased, swept)


def _swept(state: State, now: datetime, rules: AnalyticsRules) -> State:
    """What the sweep at ``now`` would store: the re-evaluated state when its traits changed, else as is."""
    last = state["last_event_at"]
    if last is not None and model.parse_iso(last) >= now:
        return state
    after = model.evaluate(orjson.loads(orjson.dumps(state)), now, rules)
    return after if model.traits_summary(after) != model.traits_summary(state) else state


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


async def load(conn: asyncpg.Connection, schema: str, folded: Folded, events: Sequence[LoggedEvent]) -> None:
    """Load the folded read model into ``schema`` (the connection's search path names it)."""
    await _binary_jsonb(conn)
    indexes = await secondary_indexes(conn, schema)
    await conn.copy_records_to_table(
        "customer_events", schema_name=schema,
        columns=["event_id", "customer_id", "origin", "event_type", "domain", "occurred_at", "data",
                 "correlation_id"],
        records=folded.timeline,
    )
    await conn.copy_records_to_table(
        "customer_views", schema_name=schema,
        columns=["customer_id", "state", "merged_into", "status", "lifecycle_stage", "churn_band", "churn_score",
                 "value_tier", "clv", "segments", "name_search", "acquisition_channel", "customer_since",
                 "dissolved_at", "last_event_at", "signal_version"],
        records=[
            (v.customer_id, v.state_json, v.merged_into, v.status, v.lifecycle_stage, v.churn_band, v.churn_score,
             v.value_tier, v.clv, v.segments, v.name_search, v.acquisition_channel, v.customer_since,
             v.dissolved_at, v.last_event_at, v.signal_version)
            for v in folded.views
        ],
    )
    episodes = [(v.customer_id, v.dissolutions) for v in folded.views if v.dissolutions != "{}"]
    if episodes:
        await conn.execute(
            """update customer_views c set dissolutions = e.ranges::tstzmultirange
               from unnest($1::uuid[], $2::text[]) as e(customer_id, ranges) where c.customer_id = e.customer_id""",
            [c for c, _ in episodes], [r for _, r in episodes],
        )
    await conn.copy_records_to_table(
        "customer_aliases", schema_name=schema, columns=["duplicate_id", "survivor_id"],
        records=list(folded.aliases.items()),
    )
    await conn.copy_records_to_table(
        "co_purchase_totals", schema_name=schema, columns=["sku_a", "sku_b", "customers"],
        records=[(a, b, n) for (a, b), n in folded.co_purchases.items()],
    )
    if folded.erased:
        await rm.redact_events(conn, folded.erased, _personal_fields())
    # the KPI tables: the live projector's own statements over the events in time order
    ordered = sorted(events, key=lambda e: e.sort_key)
    for start in range(0, len(ordered), KPI_CHUNK):
        batch = _Batch()
        for event in itertools.islice(ordered, start, start + KPI_CHUNK):
            collect_kpis(batch, _AsReceived(event), event.data, event.origin)
        await write_kpis(conn, batch)
    for definition in indexes:
        await conn.execute(definition)
    await conn.execute(f'analyze "{schema}".customer_views')
    await conn.execute(f'analyze "{schema}".customer_events')


@dataclass(frozen=True, slots=True)
class _AsReceived:
    """The fields of a received event the KPI collection reads."""

    logged: LoggedEvent

    @property
    def event_type(self) -> str:
        return self.logged.event_type

    @property
    def event_id(self) -> str:
        return self.logged.event_id

    @property
    def time(self) -> datetime:
        return self.logged.at


async def fold_in_thread(events: Iterable[LoggedEvent], rules: AnalyticsRules, now: datetime,
                         progress: Any = None) -> Folded:
    return await asyncio.to_thread(fold_all, events, rules, now, progress)
