"""Thin SQL over the analytics read models: every function is one set-based statement.

The projector calls these with whole batches (arrays bound with ``unnest``), never per event, so a
batch of thousands of events costs a handful of round trips. Table names are unqualified: the
connection's ``search_path`` picks the live schema or a rebuild's (see ``config.with_search_path``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from services.analytics.adapters import webhooks
from services.analytics.domain.model import Fact, State


@dataclass(frozen=True, slots=True)
class StoredView:
    state: State
    merged_into: str | None
    signal_version: int


@dataclass(frozen=True, slots=True)
class ViewRow:
    """One customer_views row to write (columns derived from the state by the projector)."""

    customer_id: str
    state: State
    merged_into: str | None
    status: str
    lifecycle_stage: str | None
    churn_band: str | None
    churn_score: Decimal | None
    value_tier: str | None
    clv: Decimal
    segments: list[str]
    name_search: str | None
    acquisition_channel: str | None
    customer_since: datetime | None
    dissolved_at: datetime | None
    last_event_at: datetime | None
    signal_version: int
    dissolutions: str = "{}"
    """Every dissolution episode, a ``tstzmultirange`` literal (the churn KPI)."""
    state_json: str | None = None
    """The whole state already serialised (the projector has the parts at hand); else it is dumped here."""
    delta_json: str | None = None
    """Only the top-level state keys that changed, as a JSON object, when the stored row is known to hold
    the rest (the projector's verified cache): written as ``state || delta``, not the whole document."""


@dataclass(frozen=True, slots=True)
class LockedView:
    """A view locked for the batch: its row revision, and its state unless the caller already holds it."""

    revision: str
    """The row's ``xmin``: every write of the row, by anyone, gives it a new one (see ``lock_views``)."""
    state: State | None
    merged_into: str | None
    signal_version: int


async def load_views(
    conn: asyncpg.Connection, customer_ids: Iterable[str], *, lock: bool = False
) -> dict[str, StoredView]:
    """The stored views; ``lock`` holds their rows until the transaction ends (in id order).

    The projector locks what it will write back: the sweep (``for update skip locked``) then leaves
    those customers to its next round instead of writing a change the projector would overwrite,
    and announcing it again next time.
    """
    rows = await conn.fetch(
        "select customer_id::text as id, state, merged_into::text as merged_into, signal_version"
        " from customer_views where customer_id = any($1::uuid[])"
        + (" order by customer_id for update" if lock else ""),
        list(customer_ids),
    )
    return {r["id"]: StoredView(r["state"], r["merged_into"], r["signal_version"]) for r in rows}


async def lock_views(
    conn: asyncpg.Connection, customer_ids: Iterable[str], known: Mapping[str, str]
) -> dict[str, LockedView]:
    """Lock the views a batch will write (in id order) and load the states the caller does not hold.

    ``known`` maps customer ids to the revision of the state the caller cached. The revision is the
    row's ``xmin``, the id of the transaction that wrote the current row version: any write by anyone
    (another worker after a rebalance, the sweep, a rebuild's swap, a manual fix) gives the row a new
    one, and an aborted transaction's id is never reused, so an equal revision proves the cached state
    is the stored one. Only then is the JSONB left on the server (``state`` comes back ``None``); any
    other row is loaded as before. ``for update`` re-reads a row another transaction changed while
    we waited for its lock, so the revision compared is the one we will overwrite.
    """
    ids = list(customer_ids)
    rows = await conn.fetch(
        """select v.customer_id::text as id, v.xmin::text as revision, v.merged_into::text as merged_into,
                  v.signal_version, case when k.revision is distinct from v.xmin::text then v.state end as state
           from customer_views v
           left join unnest($2::uuid[], $3::text[]) as k(customer_id, revision) on k.customer_id = v.customer_id
           where v.customer_id = any($1::uuid[])
           order by v.customer_id for update of v""",
        ids,
        list(known),
        list(known.values()),
    )
    return {r["id"]: LockedView(r["revision"], r["state"], r["merged_into"], r["signal_version"]) for r in rows}


async def load_view(conn: asyncpg.Connection, customer_id: str) -> StoredView | None:
    return (await load_views(conn, [customer_id])).get(customer_id)


async def aliases_of(conn: asyncpg.Connection, customer_ids: Iterable[str]) -> dict[str, str]:
    """duplicate → survivor for the ids that were merged away."""
    rows = await conn.fetch(
        "select duplicate_id::text as d, survivor_id::text as s from customer_aliases"
        " where duplicate_id = any($1::uuid[])",
        list(customer_ids),
    )
    return {r["d"]: r["s"] for r in rows}


async def record_events(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]) -> set[str]:
    """Insert timeline rows ``(event_id, owner, origin, type, domain, at, data, correlation)``; fresh ids."""
    if not rows:
        return set()
    # The rows travel as one JSON array of arrays (orjson writes uuids, instants and the data in one
    # call): eight arrays of a parameter each cost asyncpg a codec call and a few ``isinstance`` checks
    # against abstract classes per element, and the data one ``json.dumps`` each (profiled, issue 17).
    # The server parses each event's data once either way.
    inserted = await conn.fetch(
        """insert into customer_events
               (event_id, customer_id, origin, event_type, domain, occurred_at, data, correlation_id)
           select (r->>0)::uuid, (r->>1)::uuid, (r->>2)::uuid, r->>3, r->>4, (r->>5)::timestamptz, r->6, r->>7
           from jsonb_array_elements($1::text::jsonb) as r
           on conflict (event_id) do nothing
           returning event_id::text as id""",
        orjson.dumps(rows, default=str).decode(),
    )
    return {r["id"] for r in inserted}


def _fact(row: Mapping[str, Any]) -> Fact:
    return Fact(row["id"], row["event_type"], row["occurred_at"], row["data"], row["origin"])


async def load_histories(conn: asyncpg.Connection, customer_ids: Iterable[str]) -> dict[str, list[Fact]]:
    """Every stored fact each customer owns (a late event or a merge refolds them), one query.

    The rows come back as one JSON array parsed in one call: a row per fact cost asyncpg a record, a
    jsonb codec call and five lookups by name, 5 us per fact loaded, and a refold loads nine on
    average (profiled on the 360 replay, issue 17). Instants are written by the server in ISO 8601.
    """
    text = await conn.fetchval(
        """select coalesce(json_agg(json_build_array(event_id, customer_id, origin, event_type, occurred_at,
                                                     data)), '[]')::text
           from customer_events where customer_id = any($1::uuid[])""",
        list(customer_ids),
    )
    result: dict[str, list[Fact]] = {}
    for event_id, owner, origin, event_type, occurred_at, data in orjson.loads(text):
        at = datetime.fromisoformat(occurred_at)
        if at.tzinfo is not UTC:
            at = at.astimezone(UTC)
        result.setdefault(owner, []).append(Fact(event_id, event_type, at, data, origin))
    return result


async def facts_of_origins(conn: asyncpg.Connection, origins: Iterable[str], *, up_to: datetime) -> list[Fact]:
    """Every stored fact published for any of ``origins`` up to an instant (time travel), one query."""
    rows = await conn.fetch(
        """select event_id::text as id, origin::text as origin, event_type, occurred_at, data
           from customer_events where origin = any($1::uuid[]) and occurred_at <= $2""",
        list(origins),
        up_to,
    )
    return [_fact(row) for row in rows]


async def merges_concerning(conn: asyncpg.Connection, customer_id: str, *, up_to: datetime) -> list[Fact]:
    """Merge and unmerge facts up to an instant that link ``customer_id`` to others, transitively.

    One query per link of the chain (a customer merged into one that was merged into another…):
    as survivor by origin, as duplicate by the partial index on ``duplicate_id``.
    """
    found: dict[str, Fact] = {}
    known = {customer_id}
    frontier = [customer_id]
    while frontier:
        rows = await conn.fetch(
            """select event_id::text as id, origin::text as origin, event_type, occurred_at, data
               from customer_events
               where event_type in ('CustomersMerged', 'CustomersUnmerged') and occurred_at <= $2
                 and (origin = any($1::uuid[]) or data->>'duplicate_id' = any($1::text[]))""",
            frontier,
            up_to,
        )
        frontier = []
        for row in rows:
            fact = _fact(row)
            found[fact.event_id] = fact
            for linked in (fact.origin, str(fact.data.get("duplicate_id"))):
                if linked not in known:
                    known.add(linked)
                    frontier.append(linked)
    return sorted(found.values(), key=lambda fact: fact.sort_key)


async def move_to_survivor(conn: asyncpg.Connection, duplicate: str, survivor: str) -> None:
    """A merge: the duplicate's events, and those of anyone merged into it before, now belong to the survivor.

    The same set ``set_alias`` repoints: a chain of merges leaves every event with the last survivor.
    """
    await conn.execute(
        "update customer_events set customer_id = $2 where (origin = $1 or customer_id = $1) and customer_id <> $2",
        duplicate,
        survivor,
    )


async def move_back(conn: asyncpg.Connection, duplicate: str) -> None:
    """An unmerge: every event published for ``duplicate`` belongs to it again."""
    await conn.execute(
        "update customer_events set customer_id = $1 where origin = $1 and customer_id <> $1", duplicate
    )


async def set_alias(conn: asyncpg.Connection, duplicate: str, survivor: str) -> None:
    await conn.execute(
        "insert into customer_aliases (duplicate_id, survivor_id) values ($1, $2)"
        " on conflict (duplicate_id) do update set survivor_id = excluded.survivor_id",
        duplicate,
        survivor,
    )
    # anything merged into the duplicate earlier now belongs to the survivor as well
    await conn.execute("update customer_aliases set survivor_id = $2 where survivor_id = $1", duplicate, survivor)


async def drop_alias(conn: asyncpg.Connection, duplicate: str) -> None:
    await conn.execute("delete from customer_aliases where duplicate_id = $1", duplicate)


async def erased_people(conn: asyncpg.Connection, owners: Iterable[str]) -> set[str]:
    """Who was erased before among these views' customers: erased owners, and duplicates erased after
    being merged into one of them (the survivor's view is not erased, its state lists them)."""
    rows = await conn.fetch(
        """select customer_id::text as c, status, state->'erased_origins' as gone from customer_views
           where customer_id = any($1::uuid[]) and (status = 'erased' or state ? 'erased_origins')""",
        list(owners),
    )
    found: set[str] = set()
    for row in rows:
        if row["status"] == "erased":
            found.add(row["c"])
        found.update(str(person) for person in row["gone"] or ())
    return found


async def duplicates_of(conn: asyncpg.Connection, survivors: Iterable[str]) -> set[str]:
    """Customers merged into any of ``survivors`` before that survivor's erasure.

    Erasing a survivor forgets the duplicates merged into it then (the customer service destroys
    their keys with its own). A duplicate merged into it after its erasure keeps its key: its
    personal fields stay, whichever batch brings the merge (the set rebuild applies the same rule,
    ``setrebuild.merged_before_erasure``). A merge counts by its latest ``CustomersMerged`` of the
    survivor naming the duplicate, compared with the survivor's first ``CustomerErased``; a
    survivor not erased (or a merge through a chain) keeps every duplicate.
    """
    rows = await conn.fetch(
        """select a.duplicate_id::text as d from customer_aliases a
           where a.survivor_id = any($1::uuid[])
             and coalesce((select max(m.occurred_at) from customer_events m
                           where m.origin = a.survivor_id and m.event_type = 'CustomersMerged'
                             and m.data->>'duplicate_id' = a.duplicate_id::text)
                          <= (select min(x.occurred_at) from customer_events x
                              where x.origin = a.survivor_id and x.event_type = 'CustomerErased'),
                          true)""",
        list(survivors),
    )
    return {r["d"] for r in rows}


async def redact_events(
    conn: asyncpg.Connection, people: Iterable[str], personal: Mapping[str, Sequence[str]]
) -> None:
    """Null every personal field of these customers' stored events (erasure), in one statement.

    Rows already redacted are left alone (no field still set), so a batch that only carries late
    events of an erased customer rewrites those events, not the whole history again.
    """
    wanted = {event_type: list(fields) for event_type, fields in personal.items() if fields}
    if not wanted:
        return
    await conn.execute(
        """update customer_events e
           set data = e.data || (select jsonb_object_agg(f, null) from jsonb_array_elements_text(p.fields) f)
           from jsonb_each($2::jsonb) as p(event_type, fields)
           where e.origin = any($1::uuid[]) and e.event_type = p.event_type
             and exists (select 1 from jsonb_array_elements_text(p.fields) f where e.data->>f is not null)""",
        list(people),
        wanted,
    )


_VIEW_COLUMNS = """status, lifecycle_stage, churn_band, churn_score, value_tier, clv, segments, name_search,
                  acquisition_channel, customer_since, dissolved_at, dissolutions, last_event_at, signal_version"""


def _view_values(r: ViewRow) -> tuple[Any, ...]:
    """The row's values in ``_UNNEST``'s order, $1 to $16 (the state, $17, is passed on its own)."""
    return (r.customer_id, r.merged_into, r.status, r.lifecycle_stage, r.churn_band, r.churn_score, r.value_tier,
            r.clv, ",".join(r.segments), r.name_search, r.acquisition_channel, r.customer_since, r.dissolved_at,
            r.last_event_at, r.signal_version, r.dissolutions)


def _view_columns(rows: Sequence[ViewRow]) -> list[list[Any]]:
    """One array per ``unnest`` parameter: the rows' values as columns (the callers never pass no rows)."""
    return [list(column) for column in zip(*map(_view_values, rows), strict=True)]


_UNNEST = """unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::numeric[], $7::text[],
                  $8::numeric[], $9::text[], $10::text[], $11::text[], $12::timestamptz[], $13::timestamptz[],
                  $14::timestamptz[], $15::int[], $16::text[], $17::text[])
           as v(customer_id, merged_into, status, lifecycle_stage, churn_band, churn_score, value_tier, clv,
                segments, name_search, acquisition_channel, customer_since, dissolved_at, last_event_at,
                signal_version, dissolutions, state)"""


async def write_views(conn: asyncpg.Connection, rows: Sequence[ViewRow]) -> dict[str, str]:
    """Write the views of a batch: at most two statements, returning each row's new revision.

    Rows with a ``delta_json`` are updated as ``state || delta`` (only the changed top-level keys
    travel and are parsed); the others are upserted whole. A delta whose row is gone (nothing
    deletes views, but a revision guard must not trust that) is written whole instead.
    """
    revisions: dict[str, str] = {}
    deltas = [r for r in rows if r.delta_json is not None]
    if deltas:
        updated = await conn.fetch(
            f"""update customer_views c set
                    state = c.state || v.state::jsonb, merged_into = v.merged_into, status = v.status,
                    lifecycle_stage = v.lifecycle_stage, churn_band = v.churn_band, churn_score = v.churn_score,
                    value_tier = v.value_tier, clv = v.clv,
                    segments = coalesce(string_to_array(nullif(v.segments, ''), ','), '{{}}'),
                    name_search = v.name_search, acquisition_channel = v.acquisition_channel,
                    customer_since = v.customer_since, dissolved_at = v.dissolved_at,
                    dissolutions = v.dissolutions::tstzmultirange, last_event_at = v.last_event_at,
                    signal_version = v.signal_version, updated_at = clock_timestamp()
                from {_UNNEST}
                where c.customer_id = v.customer_id
                returning c.customer_id::text as id, c.xmin::text as revision""",
            *_view_columns(deltas),
            [r.delta_json for r in deltas],
        )
        revisions.update((r["id"], r["revision"]) for r in updated)
    whole = [r for r in rows if r.delta_json is None or r.customer_id not in revisions]
    if whole:
        written = await conn.fetch(
            f"""insert into customer_views (customer_id, state, merged_into, {_VIEW_COLUMNS}, updated_at)
                select v.customer_id, v.state::jsonb, v.merged_into, v.status, v.lifecycle_stage, v.churn_band,
                       v.churn_score, v.value_tier, v.clv,
                       coalesce(string_to_array(nullif(v.segments, ''), ','), '{{}}'), v.name_search,
                       v.acquisition_channel, v.customer_since, v.dissolved_at, v.dissolutions::tstzmultirange,
                       v.last_event_at, v.signal_version, clock_timestamp()
                from {_UNNEST}
                on conflict (customer_id) do update set
                    state = excluded.state, merged_into = excluded.merged_into, status = excluded.status,
                    lifecycle_stage = excluded.lifecycle_stage, churn_band = excluded.churn_band,
                    churn_score = excluded.churn_score, value_tier = excluded.value_tier, clv = excluded.clv,
                    segments = excluded.segments, name_search = excluded.name_search,
                    acquisition_channel = excluded.acquisition_channel, customer_since = excluded.customer_since,
                    dissolved_at = excluded.dissolved_at, dissolutions = excluded.dissolutions,
                    last_event_at = excluded.last_event_at,
                    signal_version = excluded.signal_version, updated_at = excluded.updated_at
                returning customer_id::text as id, xmin::text as revision""",
            *_view_columns(whole),
            [r.state_json if r.state_json is not None else _dumps(r.state) for r in whole],
        )
        revisions.update((r["id"], r["revision"]) for r in written)
    return revisions


def _dumps(value: Any) -> str:
    """JSON text as the pool's jsonb codec writes it (``shared.store.db``)."""
    return orjson.dumps(value, default=str).decode()


async def record_survey_answers(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """``(event_id, customer_id, kind, score, answered_at)`` rows for the NPS/CSAT KPIs."""
    if rows:
        columns = [list(c) for c in zip(*rows, strict=True)]
        await conn.execute(
            """insert into survey_answers (event_id, customer_id, kind, score, answered_at)
               select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::timestamptz[])
               on conflict do nothing""",
            *columns,
        )


async def record_nps_reasons(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """``(event_id, customer_id, answered_at, category, terms)`` rows: the terms of NPS reasons, never the text."""
    if rows:
        columns = [list(c) for c in zip(*rows, strict=True)]
        await conn.execute(
            """insert into nps_reasons (event_id, customer_id, answered_at, category, terms)
               select r.event_id, r.customer_id, r.answered_at, r.category, string_to_array(r.terms, E'\x1f')
               from unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[], $5::text[])
                    as r(event_id, customer_id, answered_at, category, terms)
               on conflict do nothing""",
            *columns[:4], ["\x1f".join(t) for t in columns[4]],  # terms are words: never a unit separator
        )


async def forget_nps_reasons(conn: asyncpg.Connection, people: Iterable[str]) -> None:
    """Erasure: what these customers said about why they scored as they did leaves analytics."""
    people = list(people)
    if people:
        await conn.execute("delete from nps_reasons where customer_id = any($1::uuid[])", people)


async def record_ticket_facts(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Merge partial ticket facts (opened / breached / transferred / resolved) in one statement."""
    if not rows:
        return
    await conn.execute(
        """insert into ticket_facts as t (ticket_id, customer_id, kind, opened_at, resolved_at,
                                           first_response_seconds, resolution_seconds, transfers,
                                           sla_breached, first_contact_resolution, root_cause)
           select ticket_id, customer_id, kind, opened_at, resolved_at, first_response_seconds,
                  resolution_seconds, coalesce(transfers, 0), coalesce(sla_breached, false), fcr, root_cause
           from unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::int[],
                       $7::int[], $8::int[], $9::bool[], $10::bool[], $11::text[])
                as u(ticket_id, customer_id, kind, opened_at, resolved_at, first_response_seconds,
                     resolution_seconds, transfers, sla_breached, fcr, root_cause)
           on conflict (ticket_id) do update set
               customer_id = coalesce(excluded.customer_id, t.customer_id),
               kind = coalesce(excluded.kind, t.kind),
               opened_at = coalesce(excluded.opened_at, t.opened_at),
               resolved_at = coalesce(excluded.resolved_at, t.resolved_at),
               first_response_seconds = coalesce(excluded.first_response_seconds, t.first_response_seconds),
               resolution_seconds = coalesce(excluded.resolution_seconds, t.resolution_seconds),
               transfers = greatest(excluded.transfers, t.transfers),
               sla_breached = excluded.sla_breached or t.sla_breached,
               first_contact_resolution = coalesce(excluded.first_contact_resolution, t.first_contact_resolution),
               root_cause = coalesce(excluded.root_cause, t.root_cause)""",
        *[
            [row.get(name) for row in rows]
            for name in (
                "ticket_id",
                "customer_id",
                "kind",
                "opened_at",
                "resolved_at",
                "first_response_seconds",
                "resolution_seconds",
                "transfers",
                "sla_breached",
                "fcr",
                "root_cause",
            )
        ],
    )


async def record_campaign_stats(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Add per-campaign increments (sends, cost, hold-outs, redemptions, revenue, margin, control)."""
    if not rows:
        return
    names = (
        "campaign_id",
        "name",
        "objective",
        "sends",
        "send_cost",
        "held_out",
        "redemptions",
        "redemption_revenue",
        "redemption_margin",
        "control_conversions",
        "send_at",
    )
    await conn.execute(
        """insert into campaign_stats as c (campaign_id, name, objective, sends, send_cost, held_out, redemptions,
                                            redemption_revenue, redemption_margin, control_conversions,
                                            first_send_at, last_send_at)
           select campaign_id, max(name), max(objective), sum(sends), sum(send_cost), sum(held_out),
                  sum(redemptions), sum(redemption_revenue), sum(redemption_margin), sum(control_conversions),
                  min(send_at), max(send_at)
           from unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::numeric[], $6::int[], $7::int[],
                       $8::numeric[], $9::numeric[], $10::int[], $11::timestamptz[])
                as u(campaign_id, name, objective, sends, send_cost, held_out, redemptions,
                     redemption_revenue, redemption_margin, control_conversions, send_at)
           group by campaign_id
           on conflict (campaign_id) do update set
               name = coalesce(excluded.name, c.name), objective = coalesce(excluded.objective, c.objective),
               sends = c.sends + excluded.sends, send_cost = c.send_cost + excluded.send_cost,
               held_out = c.held_out + excluded.held_out, redemptions = c.redemptions + excluded.redemptions,
               redemption_revenue = c.redemption_revenue + excluded.redemption_revenue,
               redemption_margin = c.redemption_margin + excluded.redemption_margin,
               control_conversions = c.control_conversions + excluded.control_conversions,
               first_send_at = least(c.first_send_at, excluded.first_send_at),
               last_send_at = greatest(c.last_send_at, excluded.last_send_at)""",
        *[
            [row.get(name, 0 if name not in ("campaign_id", "name", "objective", "send_at") else None) for row in rows]
            for name in names
        ],
    )


DAILY_COUNTS = ("sends", "send_cost", "held_out", "redemptions", "redemption_revenue", "redemption_margin")


async def record_campaign_days(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Add the same increments per campaign and UTC day of the fact (``at``): the KPI's range."""
    dated = [row for row in rows if row.get("at") is not None]
    if not dated:
        return
    await conn.execute(
        """insert into campaign_days as d (campaign_id, day, sends, send_cost, held_out, redemptions,
                                           redemption_revenue, redemption_margin)
           select campaign_id, (at at time zone 'UTC')::date, sum(sends), sum(send_cost), sum(held_out),
                  sum(redemptions), sum(redemption_revenue), sum(redemption_margin)
           from unnest($1::text[], $2::timestamptz[], $3::int[], $4::numeric[], $5::int[], $6::int[],
                       $7::numeric[], $8::numeric[])
                as u(campaign_id, at, sends, send_cost, held_out, redemptions, redemption_revenue, redemption_margin)
           group by 1, 2
           on conflict (campaign_id, day) do update set
               sends = d.sends + excluded.sends, send_cost = d.send_cost + excluded.send_cost,
               held_out = d.held_out + excluded.held_out, redemptions = d.redemptions + excluded.redemptions,
               redemption_revenue = d.redemption_revenue + excluded.redemption_revenue,
               redemption_margin = d.redemption_margin + excluded.redemption_margin""",
        [row["campaign_id"] for row in dated],
        [row["at"] for row in dated],
        *[[row.get(name, 0) for row in dated] for name in DAILY_COUNTS],
    )


async def record_holdouts(conn: asyncpg.Connection, rows: Sequence[tuple[str, str, datetime]]) -> None:
    if rows:
        columns = [list(c) for c in zip(*rows, strict=True)]
        await conn.execute(
            """insert into campaign_holdouts (campaign_id, customer_id, held_out_at)
               select * from unnest($1::text[], $2::uuid[], $3::timestamptz[]) on conflict do nothing""",
            *columns,
        )


async def convert_holdouts(conn: asyncpg.Connection, orders: Sequence[tuple[str, datetime]]) -> None:
    """Orders by held-out customers within 30 days count as control-group conversions (once each).

    The earliest qualifying order converts (on its day), whatever else the same batch holds: a
    batch, or a rebuild's much larger one, gives the same day as orders arriving one by one.
    """
    if not orders:
        return
    await conn.execute(
        """with first_orders as (
               select distinct on (h.customer_id, h.campaign_id) h.customer_id, h.campaign_id, o.placed_at
               from campaign_holdouts h
               join unnest($1::uuid[], $2::timestamptz[]) as o(customer_id, placed_at)
                 on h.customer_id = o.customer_id and not h.converted
                and o.placed_at >= h.held_out_at and o.placed_at < h.held_out_at + interval '30 days'
               order by h.customer_id, h.campaign_id, o.placed_at),
           converted as (
               update campaign_holdouts h set converted = true
               from first_orders f
               where h.customer_id = f.customer_id and h.campaign_id = f.campaign_id
               returning h.campaign_id, (f.placed_at at time zone 'UTC')::date as day),
           totals as (
               update campaign_stats c set control_conversions = c.control_conversions + n.count
               from (select campaign_id, count(*) from converted group by campaign_id) n
               where c.campaign_id = n.campaign_id)
           insert into campaign_days as d (campaign_id, day, control_conversions)
           select campaign_id, day, count(*) from converted group by 1, 2
           on conflict (campaign_id, day) do update set
               control_conversions = d.control_conversions + excluded.control_conversions""",
        [customer for customer, _ in orders],
        [placed for _, placed in orders],
    )


async def add_co_purchases(conn: asyncpg.Connection, deltas: Sequence[tuple[str, str, int]]) -> None:
    """Record ``(sku_a, sku_b, ±1)`` changes to "customers who bought both" (callers pass both directions).

    Appended to ``co_purchase_deltas`` (insert only), never added onto a shared counter: popular
    pairs would otherwise be hot rows that two workers' batches wait on each other for. Readers sum
    the totals and the pending deltas (the ``co_purchases`` view); ``compact_co_purchases`` folds
    the deltas into the totals now and then.
    """
    if deltas:
        await conn.execute(
            """insert into co_purchase_deltas (sku_a, sku_b, customers)
               select a, b, sum(d) from unnest($1::text[], $2::text[], $3::int[]) as p(a, b, d)
               group by a, b having sum(d) <> 0""",
            [a for a, _, _ in deltas],
            [b for _, b, _ in deltas],
            [d for _, _, d in deltas],
        )


CO_PURCHASE_COMPACTION_LOCK = 0x0C0_9C4A5E
"""Advisory lock key of the compaction: one compactor at a time, the others skip (never wait)."""


async def compact_co_purchases(conn: asyncpg.Connection) -> bool:
    """Move the pending co-purchase deltas into the totals, if no other compaction is running.

    Only the compactor writes the totals, so no worker's batch waits on a totals row; rows other
    transactions are still inserting are not visible to the delete and stay for the next round.
    """
    if not await conn.fetchval("select pg_try_advisory_xact_lock($1)", CO_PURCHASE_COMPACTION_LOCK):
        return False
    await conn.execute(
        """with moved as (delete from co_purchase_deltas returning sku_a, sku_b, customers)
           insert into co_purchase_totals as t (sku_a, sku_b, customers)
           select sku_a, sku_b, sum(customers) from moved group by sku_a, sku_b
           on conflict (sku_a, sku_b) do update set customers = t.customers + excluded.customers"""
    )
    return True


async def co_purchases_for(
    conn: asyncpg.Connection, skus: Sequence[str], limit: int = 200
) -> dict[str, dict[str, int]]:
    rows = await conn.fetch(
        """select sku_a, sku_b, customers from (
               select sku_a, sku_b, customers,
                      row_number() over (partition by sku_a order by customers desc, sku_b) as rank
               from co_purchases where sku_a = any($1::text[]) and customers > 0) ranked
           where rank <= $2""",
        list(skus),
        limit,
    )
    result: dict[str, dict[str, int]] = {}
    for row in rows:
        result.setdefault(row["sku_a"], {})[row["sku_b"]] = row["customers"]
    return result


async def published_recommendations(conn: asyncpg.Connection, customer_ids: Iterable[str]) -> dict[str, list[str]]:
    """The skus last published per customer (``public``: the publisher's memory survives rebuilds)."""
    rows = await conn.fetch(
        "select customer_id::text as id, skus from public.published_recommendations"
        " where customer_id = any($1::uuid[])",
        list(customer_ids),
    )
    return {r["id"]: list(r["skus"]) for r in rows}


async def remember_published_recommendations(
    conn: asyncpg.Connection, published: Sequence[tuple[str, list[str]]]
) -> None:
    """Record ``(customer_id, skus)`` just published, one statement for the batch.

    The lists travel as JSON text: asyncpg would read a list of lists as a two-dimensional array.
    """
    if published:
        await conn.execute(
            """insert into public.published_recommendations (customer_id, skus)
               select customer_id, skus::jsonb from unnest($1::uuid[], $2::text[]) as p(customer_id, skus)
               on conflict (customer_id) do update set skus = excluded.skus, published_at = clock_timestamp()""",
            [customer for customer, _ in published],
            [orjson.dumps(skus).decode() for _, skus in published],
        )


async def forget_published_recommendations(conn: asyncpg.Connection, customer_ids: Iterable[str]) -> None:
    """Erasure: what was recommended to a customer says what they bought."""
    await conn.execute(
        "delete from public.published_recommendations where customer_id = any($1::uuid[])", list(customer_ids)
    )


def uuid_or_none(value: Any) -> UUID | None:
    try:
        return UUID(str(value))
    except (TypeError, ValueError):
        return None


class PostgresReadModel:
    """``services.analytics.application.ports.ReadModel`` on one connection (the command's transaction).

    Thin: the webhook SQL stays in ``adapters/webhooks.py`` (the routing consumer and the delivery
    worker share it); the alert statements are here.
    """

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def subscription(self, subscription_id: UUID, *, lock: bool = False) -> Mapping[str, Any] | None:
        return await webhooks.subscription(self.conn, subscription_id, lock=lock)

    async def insert_subscription(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        row: Mapping[str, Any] = await webhooks.insert_subscription(self.conn, values)
        return row

    async def update_subscription(
        self, subscription_id: UUID, changes: Mapping[str, Any], now: datetime
    ) -> Mapping[str, Any]:
        row: Mapping[str, Any] = await webhooks.update_subscription(self.conn, subscription_id, changes, now)
        return row

    async def delete_subscription(self, subscription_id: UUID) -> None:
        await webhooks.delete_subscription(self.conn, subscription_id)

    async def wake_delivery(self) -> None:
        await webhooks.wake_delivery(self.conn)

    async def replays_waiting(self, subscription_id: UUID) -> int:
        return await webhooks.replays_waiting(self.conn, subscription_id)

    async def insert_replay(
        self, replay_id: UUID, subscription_id: UUID, since: datetime, now: datetime
    ) -> Mapping[str, Any]:
        row: Mapping[str, Any] = await webhooks.insert_replay(self.conn, replay_id, subscription_id, since, now)
        return row

    async def requeue_dead(self, subscription_id: UUID, now: datetime) -> int:
        return await webhooks.requeue_dead(self.conn, subscription_id, now)

    async def acknowledge_alert(self, alert_id: UUID, *, by: str, now: datetime) -> Mapping[str, Any] | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            """update account_manager_alerts set acknowledged_at = $2, acknowledged_by = $3
               where id = $1 and acknowledged_at is null returning *""", alert_id, now, by)
        return row

    async def alert(self, alert_id: UUID) -> Mapping[str, Any] | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            "select * from account_manager_alerts where id = $1", alert_id)
        return row
