"""The campaigns stage on the real topics, shared by the Kafka integration tests of this folder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from shared.settings import PlatformSettings

from .kafka_support import Stage

MakeDatabase = Callable[..., Awaitable[str]]


@pytest.fixture
async def stage(make_database: MakeDatabase, platform_topics_created: PlatformSettings) -> AsyncIterator[Stage]:
    """A campaigns database and engine on this session's topics (a module may define its own)."""
    opened = await Stage.open(platform_topics_created, await make_database("campaigns"))
    try:
        yield opened
    finally:
        await opened.close()
