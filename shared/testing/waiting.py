"""Waiting for a condition instead of sleeping: the condition is polled until true or a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    until: Callable[[T], bool] = bool,
    timeout: float = 20.0,
    interval: float = 0.05,
    message: str = "condition not met",
) -> T:
    """Poll ``probe`` until ``until(result)`` holds; AssertionError with the last result on timeout."""
    return await _Polling(until, timeout, interval, message).run_async(probe)


def eventually_sync(
    probe: Callable[[], T],
    *,
    until: Callable[[T], bool] = bool,
    timeout: float = 20.0,
    interval: float = 0.05,
    message: str = "condition not met",
) -> T:
    """The blocking twin of ``eventually`` for code that is not async."""
    return _Polling(until, timeout, interval, message).run(probe)


@dataclass(frozen=True, slots=True)
class _Polling(Generic[T]):
    """The rule both ``eventually`` flavours poll by; they differ only in how they call and wait.

    Done as soon as a result satisfies ``until``; past the deadline, the next unsatisfying result
    fails the wait with that result shown, so a timeout says what the condition last saw.
    """

    until: Callable[[T], bool]
    timeout: float
    interval: float
    message: str

    async def run_async(self, probe: Callable[[], Awaitable[T]]) -> T:
        deadline = time.monotonic() + self.timeout
        while True:
            last = await probe()
            if self._done(last, deadline):
                return last
            await asyncio.sleep(self.interval)

    def run(self, probe: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.timeout
        while True:
            last = probe()
            if self._done(last, deadline):
                return last
            time.sleep(self.interval)

    def _done(self, last: T, deadline: float) -> bool:
        """Whether ``last`` ends the wait; past the deadline a result that does not is a failure."""
        if self.until(last):
            return True
        if time.monotonic() > deadline:
            raise AssertionError(f"{self.message} within {self.timeout}s; last value: {last!r}")
        return False


def eventually_answered(
    check: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.3,
    tolerate: tuple[type[Exception], ...] = (KeyError, ValueError),
) -> T:
    """Poll a check against a running platform until it answers something truthy.

    A process that is still starting refuses connections or answers half-built bodies, so the
    exceptions in ``tolerate`` count as "not yet" (the last one is shown on timeout).
    """
    deadline = time.monotonic() + timeout
    last: T | Exception | None = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except tolerate as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")
