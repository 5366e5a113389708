"""Calendar commands and queries: define or change a calendar, import holidays, assign calendars to tiers.

Every change is recorded as an event and then re-plans, in the same transaction, the unfinished
tickets whose due moments it moves (``TicketSlaReplanned`` on each ticket's stream): an agent's queue
and the scheduler's breaches follow the new calendar from the moment the change commits. Tickets are
re-planned a page at a time so a calendar with many open tickets does not hold them all in memory.

The commands work through ``Work[ReadModel]`` only (so they run in memory in unit tests) and return
outcomes; the queries below them read on a connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import asyncpg

from services.ticketing.adapters import calendars as store_calendars
from services.ticketing.application.handlers import append_ticket_events
from services.ticketing.application.ports import ReadModel
from services.ticketing.domain.calendar import ALWAYS_OPEN, HORIZON_DAYS, BusinessCalendar, CalendarError
from services.ticketing.domain.calendars import TIERS_STREAM, Calendar, TierCalendars, calendar_stream, checked
from services.ticketing.domain.model import Ticket
from shared.contracts.ticketing import CalendarSpec
from shared.errors import InvalidInput, NotFound
from shared.ics import MAX_HOLIDAYS, IcsError, parse_holidays
from shared.store.eventstore import EventStore
from shared.store.outcomes import Created, Updated
from shared.store.ports import Work
from shared.store.versions import ensure_version_matches

REPLAN_PAGE = 500


async def load_calendar(uow: Work[ReadModel], name: str) -> Calendar:
    """The calendar aggregate from its stream (version 0: not defined yet)."""
    return Calendar.rehydrate(r.event for r in await uow.load(calendar_stream(name)))


async def define_calendar(
    uow: Work[ReadModel],
    *,
    name: str,
    spec: CalendarSpec,
    by: str | None,
    now: datetime,
    expected_version: int | None,
    longest_target: timedelta = timedelta(0),
) -> Created | Updated:
    """Create a calendar, or replace its definition and re-plan the open tickets on it.

    ``longest_target`` is the SLA policy's longest target: a calendar with too little working time to
    meet it (a minute a week) is refused, rather than failing every ticket opened on it later.
    """
    calendar = await load_calendar(uow, name)
    ensure_version_matches(expected_version, calendar.version)
    created = not calendar.exists
    replanned = await _record_definition(
        uow, calendar, name, spec, by=by, now=now, source="api", longest_target=longest_target
    )
    body = await _calendar_body(uow, name, replanned_tickets=replanned)
    if created:
        return Created(body, resource_id=name, version=body["version"])
    return Updated(body, version=body["version"])


async def import_holidays(
    uow: Work[ReadModel],
    *,
    name: str,
    data: bytes,
    replace: bool,
    by: str | None,
    now: datetime,
    expected_version: int | None,
    longest_target: timedelta = timedelta(0),
) -> Updated:
    """Add (or, with ``replace``, set) the calendar's holidays from an iCalendar file; re-plans like a change."""
    calendar = await load_calendar(uow, name)
    if not calendar.exists:
        raise NotFound(f"calendar {name} does not exist", calendar=name)
    ensure_version_matches(expected_version, calendar.version)
    try:
        holidays = parse_holidays(data)
    except IcsError as exc:
        raise InvalidInput(f"the .ics file cannot be used: {exc}", field="body") from None
    spec = calendar.with_holidays([(h.day, h.name) for h in holidays], replace=replace)
    if len(spec.holidays) > MAX_HOLIDAYS:
        raise InvalidInput(f"a calendar holds at most {MAX_HOLIDAYS:,} holidays", field="body")
    replanned = await _record_definition(
        uow, calendar, name, spec, by=by, now=now, source="ics_import", longest_target=longest_target
    )
    body = await _calendar_body(uow, name, replanned_tickets=replanned, holidays_imported=len(holidays))
    return Updated(body, version=body["version"])


async def assign_tier_calendars(
    uow: Work[ReadModel],
    *,
    tiers: Mapping[str, str | None],
    known_tiers: list[str],
    by: str | None,
    now: datetime,
    expected_version: int | None,
) -> Updated:
    """Name the calendar of each SLA tier (``None``: 24/7); re-plans the tier's open tickets onto it."""
    await uow.rows.lock_tiers(list(tiers))
    assignment = TierCalendars.rehydrate(r.event for r in await uow.load(TIERS_STREAM))
    ensure_version_matches(expected_version, assignment.version)
    definitions: dict[str, BusinessCalendar] = {}
    for tier, name in sorted(tiers.items()):
        if name is None:
            continue
        found = await uow.rows.calendar_named(name)
        if found is None:
            raise NotFound(f"calendar {name} does not exist", calendar=name, tier=tier)
        definitions[name] = found
    changed = assignment.assign(tiers, known_tiers=known_tiers, by=by, now=now)
    replanned = 0
    if assignment.pending:
        await uow.append(
            stream_id=TIERS_STREAM,
            stream_type=TIERS_STREAM,
            expected_version=assignment.expected_version,
            events=assignment.pull_events(),
            subject=TIERS_STREAM,
        )
        await uow.rows.save_tier_assignments(changed)
        for tier, name in sorted(changed.items()):
            definition = definitions[name] if name is not None else ALWAYS_OPEN

            async def page(after: UUID | None, tier: str = tier, name: str | None = name) -> list[UUID]:
                return await uow.rows.open_tickets_of_tier(tier, name, after=after, limit=REPLAN_PAGE)

            replanned += await _replan(uow, page, definition, name, "calendar_assigned", now)
    body = _tiers_json(await uow.rows.tier_assignments(), assignment.version)
    return Updated({**body, "replanned_tickets": replanned}, version=assignment.version)


async def tiers_body(conn: asyncpg.Connection, store: EventStore) -> dict[str, Any]:
    """Every tier's calendar name (``null``: 24/7) and the assignment's version."""
    version = await store.stream_version(conn, TIERS_STREAM)
    return _tiers_json(await store_calendars.tier_assignments(conn), version)


def _tiers_json(tiers: Mapping[str, str | None], version: int) -> dict[str, Any]:
    return {"tiers": dict(sorted(tiers.items())), "version": version}


async def _record_definition(
    uow: Work[ReadModel],
    calendar: Calendar,
    name: str,
    spec: CalendarSpec,
    *,
    by: str | None,
    now: datetime,
    source: Literal["api", "ics_import"],
    longest_target: timedelta,
) -> int:
    """Record the definition (nothing when unchanged), update the row, re-plan; returns tickets re-planned."""
    existed = calendar.exists
    definition = calendar.define(name=name, spec=spec, by=by, now=now, source=source)
    if calendar.pending:
        ensure_meets(definition, longest_target, now)
    if not calendar.pending:
        return 0
    await uow.append(
        stream_id=calendar_stream(name),
        stream_type="calendar",
        expected_version=calendar.expected_version,
        events=calendar.pull_events(),
        subject=calendar_stream(name),
    )
    await uow.rows.save_calendar(name, spec, calendar.version)
    if not existed:
        return 0  # no ticket can count on a calendar that did not exist

    async def page(after: UUID | None) -> list[UUID]:
        return await uow.rows.open_tickets_on_calendar(name, after=after, limit=REPLAN_PAGE)

    return await _replan(uow, page, definition, name, "calendar_changed", now)


async def _replan(
    uow: Work[ReadModel],
    page: Callable[[UUID | None], Awaitable[list[UUID]]],
    calendar: BusinessCalendar,
    name: str | None,
    reason: Literal["calendar_changed", "calendar_assigned"],
    now: datetime,
) -> int:
    total, after = 0, None
    while True:
        ids = await page(after)
        if not ids:
            return total
        moved = []
        histories = await uow.load_sealed([str(i) for i in ids])
        for ticket in (Ticket.rehydrate(history) for history in histories.values()):
            if ticket.replan(calendar=calendar, calendar_name=name, reason=reason, now=now):
                await append_ticket_events(uow, ticket, now)
                moved.append(ticket)
        if moved:
            await uow.rows.save_tickets(moved)
        total += len(moved)
        if len(ids) < REPLAN_PAGE:
            return total
        after = ids[-1]


async def _calendar_body(uow: Work[ReadModel], name: str, **extra: int) -> dict[str, Any]:
    """The calendar as the API shows it after the change, with what the change did (``extra``)."""
    body = await uow.rows.calendar(name)
    if body is None:
        raise NotFound(f"calendar {name} does not exist", calendar=name)
    return {**body, **extra}


def ensure_meets(calendar: BusinessCalendar, target: timedelta, now: datetime) -> None:
    """``InvalidInput`` (422) when ``calendar`` cannot give ``target`` of business time within its horizon."""
    try:
        calendar.add(now, target)
    except CalendarError:
        hours = target.total_seconds() / 3600
        raise InvalidInput(
            f"the calendar has too few working hours to meet the SLA policy's longest target ({hours:,.0f} business"
            f" hours) within {HORIZON_DAYS // 366} years",
            field="weekly_hours",
        ) from None


# ---- queries ---------------------------------------------------------------------------------------


async def calendar_json(conn: asyncpg.Connection, name: str) -> dict[str, Any]:
    """One calendar as the API shows it; 404 when there is none."""
    row = await store_calendars.calendar_row(conn, name)
    if row is None:
        raise NotFound(f"calendar {name} does not exist", calendar=name)
    return store_calendars.calendar_body(row)


async def list_calendars(conn: asyncpg.Connection) -> dict[str, Any]:
    """Every calendar, by name."""
    return {"items": [store_calendars.calendar_body(r) for r in await store_calendars.all_calendars(conn)]}


async def calendars_for_simulation(
    conn: asyncpg.Connection, *, name: str | None, spec: CalendarSpec | None, longest_target: timedelta, now: datetime
) -> Callable[[str], BusinessCalendar]:
    """The calendar of each tier for a back-test: a stored one, a proposed one, or those in force per tier.

    Each must meet the proposed policy's longest target (422 otherwise), so the replay never runs
    out of working time halfway.
    """
    if spec is not None:
        proposed = checked(spec)
        ensure_meets(proposed, longest_target, now)
        return lambda tier: proposed
    if name is not None:
        stored = await store_calendars.calendar_named(conn, name, lock=False)
        if stored is None:
            raise NotFound(f"calendar {name} does not exist", calendar=name)
        ensure_meets(stored, longest_target, now)
        return lambda tier: stored
    in_force: dict[str, BusinessCalendar] = {}
    for tier, calendar_name in (await store_calendars.tier_assignments(conn)).items():
        if calendar_name is not None:
            found = await store_calendars.calendar_named(conn, calendar_name, lock=False)
            if found is not None:
                ensure_meets(found, longest_target, now)
                in_force[tier] = found
    return lambda tier: in_force.get(tier, ALWAYS_OPEN)
