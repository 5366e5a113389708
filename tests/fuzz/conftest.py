"""The four APIs as real processes (no relays or workers) for the fuzzing and bad-input tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.testing.platform import RunningPlatform, start_platform, stop_platform
from shared.testing.plugin import DatabaseFactory


@pytest.fixture(scope="session")
def fuzz_platform(database_factory: DatabaseFactory, kafka_bootstrap: str) -> Iterator[RunningPlatform]:
    running = start_platform(database_factory=database_factory, kafka_bootstrap=kafka_bootstrap, name="fuzz",
                             workers={}, relays=False)
    try:
        yield running
    finally:
        stop_platform(running, database_factory)
