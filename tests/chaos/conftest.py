"""A platform shared by the chaos tests that do not break processes (concurrency, poison events).

Tests that kill processes or stop infrastructure start their own (see their modules).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.testing.platform import RunningPlatform, start_platform, stop_platform
from shared.testing.plugin import DatabaseFactory


@pytest.fixture(scope="session")
def shared_platform(database_factory: DatabaseFactory, kafka_bootstrap: str) -> Iterator[RunningPlatform]:
    running = start_platform(database_factory=database_factory, kafka_bootstrap=kafka_bootstrap, name="shared")
    try:
        yield running
    finally:
        stop_platform(running, database_factory)
