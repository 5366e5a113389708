"""Clocks: the system clock, moved by simulated time in the demo and by an offset in test runs.

Schedulers (payment overdue, SLA breaches, delayed campaign triggers, inactivity sweeps) take a
``Clock`` so a test can move time forward instead of waiting for it (``shared.testing.clock.FixedClock``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Protocol

simulated_now: ContextVar[datetime | None] = ContextVar("simulated_now", default=None)
"""The simulated time of the request being handled (local and test environments only).

The demo generator replays months of history through the real APIs; it sends ``X-Simulated-Time``
with each call and ``shared.web.middleware.SimulatedTimeMiddleware`` puts it here, so every clock
reading and every event timestamp of that request is the simulated one. Production never sets it.
"""


CLOCK_OFFSET_VARIABLE = "C360_CLOCK_OFFSET_SECONDS"


def clock_offset(environ: Mapping[str, str] | None = None) -> timedelta:
    """How far ``C360_CLOCK_OFFSET_SECONDS`` moves this process's clock (local and test environments only).

    ``make test-night`` sets it for pytest and so for every process the tests start, to run the
    clock-dependent tests at 02:30 UTC on a Sunday whatever the real time is. Production ignores it.
    """
    env = os.environ if environ is None else environ
    raw = env.get(CLOCK_OFFSET_VARIABLE, "").strip()
    if not raw or env.get("ENVIRONMENT", "local").lower() not in ("local", "test"):
        return timedelta(0)
    return timedelta(seconds=float(raw))


_offset = clock_offset()


def utc_now() -> datetime:
    """The current time: the request's simulated time when one is set, else the wall clock (UTC).

    The wall clock is moved by ``C360_CLOCK_OFFSET_SECONDS`` in local and test environments.
    """
    return simulated_now.get() or datetime.now(UTC) + _offset


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return utc_now()
