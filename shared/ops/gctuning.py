"""Garbage collection tuned for long-running processes (every API, relay and worker).

At CPython's default thresholds (700, 10, 10) a projection worker collected about 1,500 times per
20,000 events and its longest pause reached 223 ms (issue 17): every few hundred allocations of
envelopes, events and rows triggered a young collection, and every full collection walked the whole
heap, including the tens of thousands of long-lived objects created at start-up (modules, pydantic
models, the catalog, Faust's app) that can never become garbage.

Two settings fix both, at the cost of holding a little more young garbage between collections:

* ``gc.freeze()`` once start-up is done moves everything alive then into a permanent generation
  that collections never scan again (``gc.collect()`` first, so start-up garbage is not frozen);
* a first-generation threshold of 20,000 instead of 700 makes young collections ~30x rarer; they
  still run, so reference cycles are still reclaimed, and the memory benchmark shows RSS flat.

A consumer's batch is the third setting (``collections_after_the_batch``, which the consumer kit wraps
around every batch): a young collection that starts in the middle of a batch scans, and promotes to
the older generations, every envelope, event, row and state the batch still holds; started after it,
it finds only what the batch left alive (profiled on the 360 replay, issue 17: 29 young collections
in a 17,710-event window cost 144 ms, 8 µs per event).

``GC_TUNING=off`` in the environment keeps CPython's defaults (to compare, or if a process ever
misbehaves with them). ``GcPauses`` counts collections and their pauses for the benchmarks.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

GEN0_THRESHOLD = 20_000
GEN1_THRESHOLD = 20
GEN2_THRESHOLD = 20


def tune_for_long_running_process() -> bool:
    """Collect, freeze what survived start-up, raise the thresholds; False when ``GC_TUNING=off``."""
    if os.environ.get("GC_TUNING", "").lower() in ("off", "0", "false", "no"):
        return False
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)
    return True


_batches_open = 0


@contextmanager
def collections_after_the_batch() -> Iterator[None]:
    """Hold automatic collections while a batch runs; the first allocation after it collects as due.

    Only in a tuned process (the raised first-generation threshold in place, so not with
    ``GC_TUNING=off`` or CPython's defaults) and only while collections are enabled: a process that
    turned them off keeps them off. Nested or concurrent batches share one hold, released by the last.
    Nothing is skipped: the allocation count keeps growing while held, so the collection that was due
    (of whichever generation) runs as soon as the hold ends, after the batch's own objects are freed.
    """
    global _batches_open
    if _batches_open == 0 and (gc.get_threshold()[0] < GEN0_THRESHOLD or not gc.isenabled()):
        yield
        return
    _batches_open += 1
    gc.disable()
    try:
        yield
    finally:
        _batches_open -= 1
        if _batches_open == 0:
            gc.enable()


@dataclass
class GcPauses:
    """Collections and their pause times while installed (``gc.callbacks``); for the benchmarks.

    ``longest_ms`` is wall time (what a request waiting on the loop sees); ``longest_cpu_ms`` is the
    collecting thread's CPU time, which a busy machine's preemption does not inflate.
    """

    collections: int = 0
    total_ms: float = 0.0
    longest_ms: float = 0.0
    longest_cpu_ms: float = 0.0
    by_generation: dict[int, int] = field(default_factory=dict)
    _started: tuple[float, float] = (0.0, 0.0)

    def reset(self) -> None:
        self.collections, self.total_ms, self.longest_ms, self.longest_cpu_ms = 0, 0.0, 0.0, 0.0
        self.by_generation = {}

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = (time.perf_counter(), time.thread_time())
            return
        pause = (time.perf_counter() - self._started[0]) * 1000
        self.collections += 1
        self.total_ms += pause
        self.longest_ms = max(self.longest_ms, pause)
        self.longest_cpu_ms = max(self.longest_cpu_ms, (time.thread_time() - self._started[1]) * 1000)
        generation = int(info.get("generation", -1))
        self.by_generation[generation] = self.by_generation.get(generation, 0) + 1

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)
