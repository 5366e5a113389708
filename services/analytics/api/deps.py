"""Annotated dependency aliases of the analytics API.

Every dependency is ``async def``, even the trivial ones: FastAPI runs a plain ``def`` dependency in a
worker thread, a thread hop per dependency per request (py-spy: 15% of ``GET /360``'s CPU went to
three of them). ``tests/shared/unit/test_dependencies_on_the_event_loop.py`` keeps it so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import asyncpg
from fastapi import Depends, Query, Request

from services.analytics.domain.rules import AnalyticsRules
from shared.errors import InvalidInput
from shared.web import Principal, require
from shared.web.types import Instant

Reader = Annotated[Principal, Depends(require("analytics:read"))]
"""Staff with ``analytics:read``; self-service tokens are refused (lists and KPIs span customers)."""

OwnReader = Annotated[Principal, Depends(require("analytics:read", allow_self=True))]
"""``analytics:read``, or a self-service token reading its own customer."""


async def pool(request: Request) -> asyncpg.Pool:
    """The read-model pool created by the lifespan."""
    value: asyncpg.Pool = request.app.state.pool
    return value


async def rules(request: Request) -> AnalyticsRules:
    value: AnalyticsRules = request.app.state.rules
    return value


async def now(request: Request) -> datetime:
    moment: datetime = request.app.state.clock.now()
    return moment


Pool = Annotated[asyncpg.Pool, Depends(pool)]
Rules = Annotated[AnalyticsRules, Depends(rules)]
Now = Annotated[datetime, Depends(now)]


def utc(value: datetime, name: str) -> datetime:
    """Naive times are refused: every time on this API is RFC 3339 with an offset."""
    if value.tzinfo is None:
        raise InvalidInput(f"{name} must carry a UTC offset (e.g. 2026-05-01T00:00:00Z)", field=name)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 has no UTC instant
        raise InvalidInput(f"{name} is outside the representable range of instants", field=name) from None


async def time_range(
    from_: Annotated[Instant, Query(alias="from", description="Start (inclusive), RFC 3339 with an offset.")],
    to: Annotated[Instant, Query(description="End (exclusive), RFC 3339 with an offset; after `from`, and at "
                                             "most ten years (3,660 days) after it.")],
) -> tuple[datetime, datetime]:
    """A validated ``from``/``to`` pair."""
    start, end = utc(from_, "from"), utc(to, "to")
    if end <= start:
        raise InvalidInput("'to' must be after 'from'", field="to")
    if (end - start).days > 3660:
        raise InvalidInput("the range may span at most ten years", field="to")
    return start, end


TimeRange = Annotated[tuple[datetime, datetime], Depends(time_range)]
