"""Business figures read on scrape: at most once per ttl, and a database outage keeps the last values."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from shared.ops.observability import read_on_scrape


def test_reads_once_per_ttl_and_swallows_only_database_outages() -> None:
    calls: list[Any] = []
    failure: list[BaseException] = []

    async def read(app: Any) -> None:
        calls.append(app)
        if failure:
            raise failure.pop()

    async def scenario() -> None:
        often = read_on_scrape(read, ttl=0.0, what="figures")
        await often("app-1")
        failure.append(asyncpg.exceptions.CannotConnectNowError("starting up"))
        await often("app-2")  # the outage is logged, the scrape goes on
        assert calls == ["app-1", "app-2"]
        failure.append(ValueError("a bug, not an outage"))
        with pytest.raises(ValueError):
            await often("app-3")
        rarely = read_on_scrape(read, ttl=3600.0, what="figures")
        await rarely("app-4")
        await rarely("app-5")  # within the ttl: no second query
        assert calls[-1] == "app-4"

    asyncio.run(scenario())
