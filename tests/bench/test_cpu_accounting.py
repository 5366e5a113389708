"""The CPU-per-event figures of the scale benchmark read the processes' real CPU time."""

from __future__ import annotations

import os
import time

from bench.scale import cpu_seconds


def test_cpu_seconds_counts_the_work_a_process_did() -> None:
    before = cpu_seconds([os.getpid()])
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        sum(range(1000))
    assert 0.25 <= cpu_seconds([os.getpid()]) - before < 5
