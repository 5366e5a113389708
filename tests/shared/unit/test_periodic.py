"""Background jobs keep their duty through failures of any kind."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from shared.store.periodic import run_every


@pytest.mark.asyncio
async def test_a_job_keeps_ticking_through_outages_and_unexpected_errors(caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()
    failures: list[Exception] = [
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.InternalClientError("cannot switch to state 12; another operation (2) is in progress"),
        KeyError("a bug"),
    ]
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        ticks += 1
        if failures:
            raise failures.pop(0)
        stop.set()

    with caplog.at_level(logging.WARNING, logger="shared.store.periodic"):
        await asyncio.wait_for(run_every(0.001, tick, stop, job="test job"), timeout=10)

    assert ticks == 4
    levels = [record.levelno for record in caplog.records]
    assert levels == [logging.WARNING, logging.WARNING, logging.ERROR]  # the bug is an error, with a traceback
    assert caplog.records[-1].exc_info is not None


@pytest.mark.asyncio
async def test_a_stopped_job_does_not_tick() -> None:
    stop = asyncio.Event()
    stop.set()
    ticked = False

    async def tick() -> None:
        nonlocal ticked
        ticked = True

    await run_every(60, tick, stop, job="test job")
    assert not ticked
