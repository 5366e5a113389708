"""Background jobs that run every few seconds for the life of a process (sweeps, schedulers, timers).

A job that ends takes its duty with it silently (SLA breaches no longer reported, timers no longer
fired) while the process still looks alive. So a tick's failure never ends the loop: a database outage
is a warning and the next tick retries; anything else is logged with its traceback and retried too,
where metrics and alerts on the log level make it visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from shared.store.db import TRANSIENT_DATABASE_ERRORS

log = logging.getLogger(__name__)


async def run_every(
    interval_seconds: float, tick: Callable[[], Awaitable[object]], stop: asyncio.Event, *, job: str
) -> None:
    """Await ``tick()`` now and every ``interval_seconds`` after, until ``stop`` is set."""
    while not stop.is_set():
        try:
            await tick()
        except TRANSIENT_DATABASE_ERRORS as exc:
            log.warning("%s failed; retrying on the next tick", job, extra={"job": job, "error": repr(exc)})
        except Exception:
            log.exception("%s failed unexpectedly; retrying on the next tick", job, extra={"job": job})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
