"""An analytics database per test and a pool on its read model, shared by this folder's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.analytics.config import AnalyticsSettings
from shared.store.db import create_pool
from tests.analytics.integration.support import analytics_settings


@pytest.fixture
async def settings(make_database, platform_settings) -> AnalyticsSettings:  # type: ignore[no-untyped-def]
    return analytics_settings(platform_settings, await make_database("analytics"))


@pytest.fixture
async def pool(settings: AnalyticsSettings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings.read_model_dsn, min_size=1, max_size=3)
    yield pool
    await pool.close()
