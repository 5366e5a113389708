"""The calendars read side (``sla_calendars``, ``sla_tier_calendars``): thin SQL, written in the command's transaction.

Reads that feed a due moment take ``FOR SHARE``: a calendar change updates the row first and then
re-plans the open tickets on it, so a ticket opened (or resumed) concurrently either commits before
the change touches the row, and is re-planned, or waits and counts on the new definition.

Those reads are on every opening, so they fetch only a digest of the definition (one round trip for
the tier and its calendar) and reuse the parsed calendar for that digest: parsing the JSON and
building the calendar on each opening cost a fifth of the opening's throughput, and a reused
calendar keeps its per-day working intervals warm. A digest, not the version, keys the cache: the
same name and version can hold different definitions in two databases (tests create many).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from services.ticketing.domain.calendar import ALWAYS_OPEN, BusinessCalendar, calendar_from_spec
from shared.contracts.ticketing import CalendarSpec


def _spec(raw: Any) -> CalendarSpec:
    return CalendarSpec.model_validate(orjson.loads(raw) if isinstance(raw, str | bytes) else raw)


async def save_calendar(conn: asyncpg.Connection, name: str, spec: CalendarSpec, version: int) -> None:
    """Upsert a calendar's definition at ``version``."""
    await conn.execute(
        """insert into sla_calendars (name, definition, version) values ($1, $2, $3)
           on conflict (name) do update set definition = excluded.definition, version = excluded.version,
               updated_at = clock_timestamp()""",
        name,
        spec.model_dump(mode="json"),
        version,
    )


_PARSED: dict[tuple[str, str], BusinessCalendar] = {}
_PARSED_MAX = 256

_TIER_AND_CALENDAR = """
with tier as (select calendar from sla_tier_calendars where tier = $1 for share)
select tier.calendar, c.digest from tier left join lateral (
    select md5(definition::text) as digest from sla_calendars where name = tier.calendar for share) c on true
"""


async def _parsed(conn: asyncpg.Connection, name: str, digest: str) -> BusinessCalendar | None:
    found = _PARSED.get((name, digest))
    if found is None:
        raw = await conn.fetchval(
            "select definition from sla_calendars where name = $1 and md5(definition::text) = $2", name, digest
        )
        if raw is None:
            return None
        found = calendar_from_spec(_spec(raw))
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[(name, digest)] = found
    return found


async def calendar_named(conn: asyncpg.Connection, name: str, *, lock: bool = True) -> BusinessCalendar | None:
    """The definition of calendar ``name`` (``None`` when there is none), locked for share by default."""
    digest = await conn.fetchval(
        f"select md5(definition::text) from sla_calendars where name = $1{' for share' if lock else ''}", name
    )
    return None if digest is None else await _parsed(conn, name, digest)


async def calendar_of_tier(conn: asyncpg.Connection, tier: str) -> tuple[str | None, BusinessCalendar]:
    """The calendar a tier counts on: ``(name, definition)``, ``(None, ALWAYS_OPEN)`` for 24/7 (both rows locked)."""
    row = await conn.fetchrow(_TIER_AND_CALENDAR, tier)
    if row is None or row["calendar"] is None or row["digest"] is None:
        return None, ALWAYS_OPEN
    found = await _parsed(conn, row["calendar"], row["digest"])
    return (row["calendar"], found) if found is not None else (None, ALWAYS_OPEN)


async def all_calendars(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every calendar with its version and the tiers that count on it, by name."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """select c.name, c.definition, c.version, c.updated_at,
                  coalesce(array_agg(t.tier order by t.tier) filter (where t.tier is not null), '{}') as tiers
           from sla_calendars c left join sla_tier_calendars t on t.calendar = c.name
           group by c.name order by c.name"""
    )
    return rows


async def calendar_row(conn: asyncpg.Connection, name: str) -> asyncpg.Record | None:
    """One calendar with its version and tiers."""
    return await conn.fetchrow(
        """select c.name, c.definition, c.version, c.updated_at,
                  coalesce(array_agg(t.tier order by t.tier) filter (where t.tier is not null), '{}') as tiers
           from sla_calendars c left join sla_tier_calendars t on t.calendar = c.name
           where c.name = $1 group by c.name""",
        name,
    )


def spec_of(row: asyncpg.Record) -> CalendarSpec:
    """The definition stored in a calendar row."""
    return _spec(row["definition"])


def calendar_body(row: asyncpg.Record) -> dict[str, Any]:
    """A calendar row (of :func:`calendar_row` or :func:`all_calendars`) as the API shows it."""
    spec = spec_of(row)
    return {"name": row["name"], **spec.model_dump(mode="json"), "tiers": list(row["tiers"]), "version": row["version"]}


async def tier_assignments(conn: asyncpg.Connection) -> dict[str, str | None]:
    """Every tier's calendar name (``None``: 24/7)."""
    return {r["tier"]: r["calendar"] for r in await conn.fetch("select tier, calendar from sla_tier_calendars")}


async def save_tier_assignments(conn: asyncpg.Connection, tiers: Mapping[str, str | None]) -> None:
    """Set the calendars of these tiers (a tier the table did not know yet gets its row)."""
    await conn.execute(
        """insert into sla_tier_calendars (tier, calendar)
           select * from unnest($1::text[], $2::text[])
           on conflict (tier) do update set calendar = excluded.calendar, updated_at = clock_timestamp()""",
        list(tiers),
        list(tiers.values()),
    )


async def lock_tiers(conn: asyncpg.Connection, tiers: Sequence[str]) -> None:
    """Take the tiers' rows for update (the assignment's counterpart of the openings' FOR SHARE)."""
    await conn.execute("select 1 from sla_tier_calendars where tier = any($1::text[]) for update", list(tiers))


async def open_tickets_on_calendar(
    conn: asyncpg.Connection, name: str, *, after: UUID | None, limit: int
) -> list[UUID]:
    """Unfinished tickets counting on calendar ``name``, by id, from ``after`` (a page for re-planning)."""
    rows = await conn.fetch(
        """select id from tickets where sla_calendar = $1 and status not in ('resolved', 'closed')
             and ($2::uuid is null or id > $2) order by id limit $3""",
        name,
        after,
        limit,
    )
    return [r["id"] for r in rows]


async def open_tickets_of_tier(
    conn: asyncpg.Connection, tier: str, calendar: str | None, *, after: UUID | None, limit: int
) -> list[UUID]:
    """Unfinished tickets of ``tier`` not yet on ``calendar``, by id, from ``after``."""
    rows = await conn.fetch(
        """select id from tickets where customer_tier = $1 and status not in ('resolved', 'closed')
             and sla_calendar is distinct from $2 and ($3::uuid is null or id > $3) order by id limit $4""",
        tier,
        calendar,
        after,
        limit,
    )
    return [r["id"] for r in rows]
