"""Waiting for a condition instead of sleeping: the condition is polled until true or a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

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
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = await probe()
        if until(last):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} within {timeout}s; last value: {last!r}")
        await asyncio.sleep(interval)


def eventually_sync(
    probe: Callable[[], T],
    *,
    until: Callable[[T], bool] = bool,
    timeout: float = 20.0,
    interval: float = 0.05,
    message: str = "condition not met",
) -> T:
    """The blocking twin of ``eventually`` for code that is not async."""
    deadline = time.monotonic() + timeout
    while True:
        last = probe()
        if until(last):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} within {timeout}s; last value: {last!r}")
        time.sleep(interval)


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
