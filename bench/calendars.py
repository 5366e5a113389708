"""Business-hours calendars (issue 19.1): the cost of business-time arithmetic and of re-planning open tickets.

Two figures, each with its comparison in the same run:

* ``BusinessCalendar.add`` of a 24-hour target on a Berlin split-shift calendar with holidays (what
  every opening, resume, reopening and re-plan computes), next to the 24/7 calendar's plain
  ``datetime`` addition it replaces for desks without a calendar;
* one calendar change re-planning ``size`` open tickets in its transaction (load, compute, append
  ``TicketSlaReplanned``, update the read rows, all through the real handlers on a scratch database),
  next to writing the same tickets' openings (the event store's own write rate for these tickets).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta

from bench.report import Figure, Progress
from bench.setup import Scratch, Size
from services.ticketing.application.batches import persist_tickets
from services.ticketing.application.calendars import assign_tier_calendars, define_calendar
from services.ticketing.bootstrap import ROWS_FACTORY
from services.ticketing.domain.calendar import ALWAYS_OPEN, BusinessCalendar, Shift
from services.ticketing.domain.model import Ticket
from services.ticketing.domain.sla import DEFAULT_POLICY
from shared.contracts.ticketing import CalendarSpec, WeeklyHours, WorkingHours
from shared.ids import new_id
from shared.store.db import create_pool
from shared.store.eventstore import EventStore
from shared.store.uow import UnitOfWork

progress = Progress.bar
SIZE = Size(default=2_000, smoke=20, full=20_000, counts="open tickets re-planned by one calendar change")
ADDS = 20_000
BATCH = 500
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def spec(first_shift_end: str) -> CalendarSpec:
    hours = [WorkingHours(start="09:00", end=first_shift_end), WorkingHours(start="13:00", end="17:00")]
    week = WeeklyHours(monday=hours, tuesday=hours, wednesday=hours, thursday=hours, friday=hours)
    return CalendarSpec(time_zone="Europe/Berlin", weekly_hours=week)


def berlin() -> BusinessCalendar:
    day = (Shift(9 * 60, 12 * 60), Shift(13 * 60, 17 * 60))
    holidays = {date(2026, 12, 25): "Christmas", date(2026, 5, 1): "Labour Day", date(2026, 10, 3): "Unity Day"}
    return BusinessCalendar(time_zone="Europe/Berlin", weekly=(day,) * 5 + ((), ()), holidays=holidays)


def arithmetic() -> list[Figure]:
    rng = random.Random(19)
    starts = [START + timedelta(minutes=rng.randrange(0, 365 * 24 * 60)) for _ in range(ADDS)]
    target = timedelta(hours=24)
    figures = []
    timings = {}
    for label, calendar in (("business", berlin()), ("24/7", ALWAYS_OPEN)):
        began = time.perf_counter()
        for start in starts:
            calendar.add(start, target)
        timings[label] = (time.perf_counter() - began) / ADDS * 1e6
    figures.append(Figure("calendars", "add 24 business hours (Berlin split shifts, holidays)",
                          round(timings["business"], 2), "us/call",
                          comparison=f"24/7 datetime addition {timings['24/7']:.2f} us/call",
                          ratio=round(timings["business"] / timings["24/7"], 1)))
    return figures


async def replanning(size: int) -> list[Figure]:
    async with Scratch("ticketing") as scratch:
        pool = await create_pool(scratch.dsn, min_size=1, max_size=2)
        store = EventStore(service="ticketing", topic=f"{scratch.prefix}ticketing.events")
        try:
            async with UnitOfWork(pool, store, ROWS_FACTORY) as uow:
                await define_calendar(uow, name="berlin", spec=spec("12:00"), by="bench", now=START,
                                      expected_version=None)
                await assign_tier_calendars(uow, tiers={"standard": "berlin"}, known_tiers=["standard"], by="bench",
                                            now=START, expected_version=None)
            calendar = berlin()
            opened = 0.0
            for first in progress(range(0, size, BATCH), desc="open tickets", unit="batch"):
                tickets = [
                    Ticket.open(ticket_id=new_id(), customer_id=new_id(), kind="question", channel="email",
                                subject=None, description=None, now=START + timedelta(minutes=n), policy=DEFAULT_POLICY,
                                priority="normal", agent_id="bench", calendar=calendar, calendar_name="berlin")
                    for n in range(first, min(size, first + BATCH))
                ]
                began = time.perf_counter()
                async with UnitOfWork(pool, store) as uow:
                    await persist_tickets(uow.conn, store, tickets, START)
                opened += time.perf_counter() - began
            began = time.perf_counter()
            async with UnitOfWork(pool, store, ROWS_FACTORY) as uow:
                answer = await define_calendar(uow, name="berlin", spec=spec("12:30"), by="bench",
                                               now=START + timedelta(days=1), expected_version=None)
            replanned_s = time.perf_counter() - began
            assert answer.resource["replanned_tickets"] == size, answer.resource
        finally:
            await pool.close()
    return [Figure("calendars", f"one calendar change re-plans {size:,} open tickets", round(size / replanned_s),
                   "tickets/s", comparison=f"{replanned_s:.2f} s in one transaction; opening them: "
                   f"{size / opened:,.0f} tickets/s", ratio=round(opened / replanned_s, 2))]


async def run(size: int) -> list[Figure]:
    """Both measurements; ``size`` is the number of open tickets on the changed calendar."""
    return arithmetic() + await replanning(size)
