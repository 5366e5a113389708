"""Calendar command handlers on in-memory ports: definitions, holiday imports, tier assignments, re-planning.

No database: ``fake_work()`` is the event log plus ``InMemoryReadModel`` (whose ticket rows the
re-planning pages through). The same handlers run on PostgreSQL in ``tests/ticketing/api/test_calendars.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.ticketing.application import calendars
from services.ticketing.domain.calendars import TIERS_STREAM, calendar_stream
from services.ticketing.domain.model import Ticket, TicketRules
from services.ticketing.domain.sla import DEDICATED_TIER, DEFAULT_POLICY, STANDARD_TIER
from shared.contracts.ticketing import (
    CalendarChanged,
    CalendarDefined,
    CalendarSpec,
    SlaCalendarsAssigned,
    TicketSlaReplanned,
    WeeklyHours,
    WorkingHours,
)
from shared.errors import InvalidInput, NotFound, PreconditionFailed
from shared.ids import new_id
from shared.store.outcomes import Created, Updated
from shared.testing.fakes import FakeWork
from tests.ticketing.fakes import InMemoryReadModel, fake_work

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)  # a Monday
KNOWN_TIERS = [DEDICATED_TIER, STANDARD_TIER]
Work = FakeWork[InMemoryReadModel]
CHRISTMAS_ICS = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//example//EN\r\nBEGIN:VEVENT\r\nUID:xmas\r\n"
    b"SUMMARY:Christmas Day\r\nDTSTART;VALUE=DATE:20261225\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def office(start: str = "09:00", end: str = "17:00") -> CalendarSpec:
    hours = [WorkingHours(start=start, end=end)]
    week = WeeklyHours(monday=hours, tuesday=hours, wednesday=hours, thursday=hours, friday=hours)
    return CalendarSpec(time_zone="UTC", weekly_hours=week)


async def define(work: Work, name: str = "office", spec: CalendarSpec | None = None, **fields: Any) -> Any:
    return await calendars.define_calendar(work, name=name, spec=spec or office(), by="lead", now=NOW,
                                           expected_version=fields.pop("expected_version", None), **fields)


async def open_ticket_on(work: Work, calendar_name: str | None, *, tier: str = STANDARD_TIER) -> Ticket:
    """An open ticket counting on ``calendar_name`` (its events in the log, its row saved), not in ``appended``."""
    calendar = await work.rows.calendar_named(calendar_name) if calendar_name else None
    ticket = Ticket.open(ticket_id=new_id(), customer_id=new_id(), kind="question", channel="phone", subject=None,
                         description=None, now=NOW, policy=DEFAULT_POLICY, agent_id="agent-ayse", customer_tier=tier,
                         **({"calendar": calendar, "calendar_name": calendar_name} if calendar else {}))
    work.seed(str(ticket.id), "ticket", ticket.pull_events())
    await work.rows.save_tickets([ticket])
    return ticket


async def test_defining_a_new_calendar_creates_it_at_version_one() -> None:
    work = fake_work()
    outcome = await define(work)
    assert isinstance(outcome, Created) and (outcome.resource_id, outcome.version) == ("office", 1)
    [defined] = work.events(calendar_stream("office"))
    assert isinstance(defined, CalendarDefined) and defined.definition == office()
    assert outcome.resource["weekly_hours"]["monday"] == [{"start": "09:00", "end": "17:00"}]
    assert (outcome.resource["version"], outcome.resource["replanned_tickets"]) == (1, 0)
    assert work.rows.calendars["office"] == (office(), 1)


async def test_changing_a_calendar_replans_its_open_tickets_only() -> None:
    work = fake_work()
    await define(work)
    moved = await open_ticket_on(work, "office")
    resolved = await open_ticket_on(work, "office")
    resolved.resolve(resolution="done", root_cause=None, by="agent-ayse", now=NOW, rules=TicketRules())
    work.seed(str(resolved.id), "ticket", resolved.pull_events())
    await work.rows.save_tickets([resolved])
    elsewhere = await open_ticket_on(work, None)
    work.appended.clear()

    outcome = await define(work, spec=office("09:00", "12:00"), expected_version=1)

    assert isinstance(outcome, Updated) and outcome.version == 2 == outcome.resource["version"]
    assert outcome.resource["replanned_tickets"] == 1
    assert isinstance(work.events(calendar_stream("office"))[0], CalendarChanged)
    [replanned] = work.events(str(moved.id))
    assert isinstance(replanned, TicketSlaReplanned) and replanned.reason == "calendar_changed"
    assert replanned.resolution_due > replanned.previous_resolution_due  # fewer hours a day: later
    assert work.events(str(resolved.id)) == [] and work.events(str(elsewhere.id)) == []
    assert work.rows.tickets[moved.id]["resolution_due"] == replanned.resolution_due  # the read row follows


async def test_the_same_definition_again_records_nothing() -> None:
    work = fake_work()
    await define(work)
    work.appended.clear()
    outcome = await define(work)
    assert isinstance(outcome, Updated) and outcome.version == 1 and work.appended == []


async def test_a_stale_if_match_is_refused() -> None:
    work = fake_work()
    await define(work)
    with pytest.raises(PreconditionFailed) as refused:
        await define(work, spec=office("10:00", "17:00"), expected_version=7)
    assert refused.value.extra["current_version"] == 1


async def test_a_calendar_too_thin_for_the_longest_target_is_invalid() -> None:
    work = fake_work()
    with pytest.raises(InvalidInput, match="too few working hours"):
        await define(work, spec=office("09:00", "09:01"), longest_target=timedelta(days=400))
    assert work.appended == [] and work.rows.calendars == {}


async def test_importing_holidays_adds_them_and_says_how_many() -> None:
    work = fake_work()
    await define(work)
    outcome = await calendars.import_holidays(work, name="office", data=CHRISTMAS_ICS, replace=False, by="lead",
                                              now=NOW, expected_version=1)
    assert isinstance(outcome, Updated) and outcome.version == 2
    assert outcome.resource["holidays"] == [{"date": "2026-12-25", "name": "Christmas Day"}]
    assert (outcome.resource["holidays_imported"], outcome.resource["replanned_tickets"]) == (1, 0)
    changed = work.events(calendar_stream("office"))[-1]
    assert isinstance(changed, CalendarChanged) and changed.source == "ics_import"


async def test_importing_into_a_missing_calendar_or_a_broken_file_is_refused() -> None:
    work = fake_work()
    with pytest.raises(NotFound):
        await calendars.import_holidays(work, name="nowhere", data=CHRISTMAS_ICS, replace=False, by="lead", now=NOW,
                                        expected_version=None)
    await define(work)
    with pytest.raises(InvalidInput):
        await calendars.import_holidays(work, name="office", data=b"not a calendar", replace=False, by="lead",
                                        now=NOW, expected_version=None)
    assert len(work.events(calendar_stream("office"))) == 1


async def test_assigning_a_tier_its_calendar_replans_that_tiers_open_tickets() -> None:
    work = fake_work()
    await define(work)
    standard = await open_ticket_on(work, None)
    dedicated = await open_ticket_on(work, None, tier=DEDICATED_TIER)
    work.appended.clear()

    outcome = await calendars.assign_tier_calendars(work, tiers={STANDARD_TIER: "office"}, known_tiers=KNOWN_TIERS,
                                                    by="lead", now=NOW, expected_version=0)

    assert isinstance(outcome, Updated) and outcome.version == 1
    assert outcome.resource == {"tiers": {STANDARD_TIER: "office"}, "version": 1, "replanned_tickets": 1}
    [assigned] = work.events(TIERS_STREAM)
    assert isinstance(assigned, SlaCalendarsAssigned) and assigned.tiers == {STANDARD_TIER: "office"}
    [replanned] = work.events(str(standard.id))
    assert isinstance(replanned, TicketSlaReplanned) and replanned.sla_calendar == "office"
    assert work.events(str(dedicated.id)) == []
    assert work.rows.locked_tiers == [STANDARD_TIER] and work.rows.tiers == {STANDARD_TIER: "office"}
    assert (await work.rows.calendar("office") or {})["tiers"] == [STANDARD_TIER]


async def test_assigning_an_unknown_calendar_or_tier_is_refused() -> None:
    work = fake_work()
    with pytest.raises(NotFound):
        await calendars.assign_tier_calendars(work, tiers={STANDARD_TIER: "nowhere"}, known_tiers=KNOWN_TIERS,
                                              by="lead", now=NOW, expected_version=None)
    with pytest.raises(InvalidInput):
        await calendars.assign_tier_calendars(work, tiers={"gold": None}, known_tiers=KNOWN_TIERS, by="lead",
                                              now=NOW, expected_version=None)
    assert work.appended == []
