"""A ticket re-planned on another calendar gets the due moments the live clock would have given it there.

Pure domain: explicit moments, no clock. Berlin is UTC+2 in June 2026, so 09:00 there is 07:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.ticketing.domain.calendar import ALWAYS_OPEN, BusinessCalendar, Shift
from services.ticketing.domain.model import Ticket, TicketRules
from services.ticketing.domain.sla import DEFAULT_POLICY
from shared.contracts.ticketing import TicketOpened, TicketSlaReplanned
from shared.ids import new_id

FRIDAY_16 = datetime(2026, 6, 12, 14, 0, tzinfo=UTC)  # Friday 16:00 in Berlin


def office(start: int = 9, end: int = 17) -> BusinessCalendar:
    day = (Shift(start * 60, end * 60),)
    return BusinessCalendar(time_zone="Europe/Berlin", weekly=(day,) * 5 + ((), ()))


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=UTC)


def a_high_priority_ticket(calendar: BusinessCalendar) -> Ticket:
    """Opened Friday 16:00 Berlin by an agent (4 h first response, 24 h resolution); events still pending."""
    return Ticket.open(ticket_id=new_id(), customer_id=new_id(), kind="question", channel="phone", subject=None,
                       description=None, now=FRIDAY_16, policy=DEFAULT_POLICY, priority="high", agent_id="agent-ayse",
                       calendar=calendar, calendar_name="office")


def test_opening_counts_the_targets_in_business_time_and_records_them() -> None:
    ticket = a_high_priority_ticket(office())
    opened = ticket.pending[0]
    assert isinstance(opened, TicketOpened)
    assert opened.first_response_due == utc(15, 10)  # Friday 16-17, Monday 09-12 (local)
    assert (opened.sla_calendar, opened.first_response_target_seconds) == ("office", 4 * 3600)
    loaded = Ticket.rehydrate(ticket.pending)
    assert loaded.clock is not None and loaded.clock.targets.resolution == timedelta(hours=24)


def test_a_replan_counts_from_the_opening_and_moves_by_each_finished_pause() -> None:
    ticket = a_high_priority_ticket(office())
    ticket.wait_for_customer(by="agent-ayse", now=utc(15, 7))  # Monday 09:00
    ticket.resume(by="agent-ayse", now=utc(15, 9))  # 11:00: two business hours paused
    assert ticket.clock is not None and ticket.clock.first_response_due == utc(15, 12)

    loaded = Ticket.rehydrate(ticket.pull_events())  # as the re-planning handler loads it
    assert loaded.replan(calendar=office(10, 18), calendar_name="office", reason="calendar_changed", now=utc(15, 10))
    [event] = loaded.pending
    assert isinstance(event, TicketSlaReplanned)
    # On 10:00-18:00: Friday 16-18 (2 h) + Monday 10-12 (2 h) = 12:00; the pause 09:00-11:00 covered one
    # business hour (10-11) there, so 13:00 local.
    assert (event.previous_first_response_due, event.first_response_due) == (utc(15, 12), utc(15, 11))
    assert loaded.clock is not None and loaded.clock.first_response_due == utc(15, 11)


def test_replanning_on_the_same_calendar_records_nothing() -> None:
    ticket = a_high_priority_ticket(office())
    ticket.pull_events()
    assert not ticket.replan(calendar=office(), calendar_name="office", reason="calendar_changed", now=FRIDAY_16)
    assert ticket.pending == []


def test_met_and_breached_targets_keep_their_moments() -> None:
    ticket = a_high_priority_ticket(office())
    ticket.comment(comment_id=new_id(), author_id="agent-ayse", body="Hello", visibility="public", now=utc(15, 8))
    assert ticket.record_sla_breaches(utc(20, 0)) == 1  # resolution (Wednesday 16:00 local) passed
    assert ticket.clock is not None
    before = (ticket.clock.first_response_due, ticket.clock.resolution_due)
    ticket.pull_events()
    assert ticket.replan(calendar=ALWAYS_OPEN, calendar_name=None, reason="calendar_assigned", now=utc(20, 1))
    [event] = ticket.pending
    assert isinstance(event, TicketSlaReplanned)
    assert (event.first_response_due, event.resolution_due) == before
    assert (event.sla_calendar, ticket.sla_calendar) == (None, None)


def test_a_reopened_ticket_replans_its_resolution_from_the_reopening() -> None:
    ticket = a_high_priority_ticket(office())
    ticket.resolve(resolution="done", root_cause=None, by="agent-ayse", now=utc(15, 8), rules=TicketRules())
    ticket.reopen(reason=None, by="customer", now=utc(16, 7), rules=TicketRules())  # Tuesday 09:00 local
    assert ticket.clock is not None and ticket.clock.resolution_due == utc(18, 15)  # 24 business hours: Thu 17:00
    assert ticket.replan(calendar=ALWAYS_OPEN, calendar_name=None, reason="calendar_assigned", now=utc(16, 8))
    assert ticket.clock.resolution_due == utc(17, 7)  # 24/7 from the reopening


def test_a_finished_ticket_is_never_replanned() -> None:
    ticket = a_high_priority_ticket(office())
    ticket.resolve(resolution="done", root_cause=None, by="agent-ayse", now=utc(15, 8), rules=TicketRules())
    ticket.pull_events()
    assert not ticket.replan(calendar=ALWAYS_OPEN, calendar_name=None, reason="calendar_assigned", now=utc(15, 9))
    assert ticket.pending == []
