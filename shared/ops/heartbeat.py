"""Liveness of a relay or worker: the last sign of life of its work loop, not of its process.

A relay or worker serves ``/metrics`` from a thread of its own, which answers as long as the process
exists, even when the event loop is blocked or the relay's loop hangs on a call that never returns.
A liveness probe on that endpoint would never restart such a process. So the work loop beats a
``Heartbeat`` (the relay on every turn of its loop, leader or standby, retrying or not; a worker's
event loop every few seconds), and ``/health/live`` answers 503 once the last beat is older than
``LIVENESS_MAX_AGE_SECONDS``. An outage of Kafka or PostgreSQL does not stop the beats: the loops keep
turning while they retry, and restarting the process would not help.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time

DEFAULT_MAX_AGE_SECONDS = 120.0
"""Longer than the slowest healthy turn of a loop: a statement may take up to 60 s (command timeout)."""

LOOP_BEAT_SECONDS = 5.0


class Heartbeat:
    """When the work loop last showed it is alive; read from the probe's thread."""

    def __init__(self, max_age: float = DEFAULT_MAX_AGE_SECONDS) -> None:
        self.max_age = max_age
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def beat(self) -> None:
        with self._lock:
            self._last = time.monotonic()

    def age(self) -> float:
        """Seconds since the last beat."""
        with self._lock:
            return time.monotonic() - self._last

    def alive(self) -> bool:
        return self.age() <= self.max_age


_PROCESS_HEARTBEAT: Heartbeat | None = None


def process_heartbeat() -> Heartbeat:
    """The heartbeat of this process's work loop (``LIVENESS_MAX_AGE_SECONDS``, default 120)."""
    global _PROCESS_HEARTBEAT
    if _PROCESS_HEARTBEAT is None:
        configured = os.environ.get("LIVENESS_MAX_AGE_SECONDS", "")
        _PROCESS_HEARTBEAT = Heartbeat(float(configured) if configured else DEFAULT_MAX_AGE_SECONDS)
    return _PROCESS_HEARTBEAT


async def beat_while_running(heartbeat: Heartbeat, stop: asyncio.Event, every: float = LOOP_BEAT_SECONDS) -> None:
    """Beat from the event loop until ``stop``: the beats stop when the loop is blocked."""
    while not stop.is_set():
        heartbeat.beat()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
