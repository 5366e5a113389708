"""Property, end to end: any interleaving of one customer's per-topic sequences, in any batches,
through the consumer kit and the projector into PostgreSQL, gives the same 360 document.

The pure fold's property (``tests/analytics/unit/test_convergence.py``) runs thousands of cases; this
one proves the projector's own part (late-event detection, the refold from stored history, the
stored state's round trip through JSONB) with real records on a real database.
"""

from __future__ import annotations

import itertools
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from services.analytics.application import queries
from services.analytics.application.views import render
from services.analytics.bootstrap import event_store
from services.analytics.config import AnalyticsSettings
from services.analytics.consumers.projector import AnalyticsProjector
from services.analytics.domain.model import fold
from shared.consuming.consumer import apply_records
from tests.analytics.builders import at, new_customer_id, per_topic_history
from tests.analytics.integration.support import records

TOPIC_LENGTHS = {name: len(facts) for name, facts in per_topic_history(new_customer_id()).items()}
TOTAL = sum(TOPIC_LENGTHS.values())
NOW = at(100)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[str], list[int]]:
    """Which topic delivers next (each topic keeps its order), and where the batches are cut."""
    left = dict(TOPIC_LENGTHS)
    picks: list[str] = []
    while any(left.values()):
        name = draw(st.sampled_from(sorted(n for n, count in left.items() if count)))
        picks.append(name)
        left[name] -= 1
    cuts = sorted(draw(st.sets(st.integers(1, TOTAL - 1), max_size=6)))
    return picks, cuts


def comparable(view: dict[str, Any]) -> dict[str, Any]:
    """The document without what depends on other customers (co-purchases) or the request."""
    return {k: v for k, v in view.items() if k not in ("recommendations", "as_of")}


@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(delivery=deliveries())
async def test_any_interleaving_through_the_projector_gives_the_same_360(
    settings: AnalyticsSettings, pool: asyncpg.Pool, delivery: tuple[list[str], list[int]]
) -> None:
    picks, cuts = delivery
    cid = new_customer_id()  # a fresh customer per example: the database is shared by the examples
    topics = per_topic_history(cid)
    queues = {name: list(facts) for name, facts in topics.items()}
    arrival = [queues[name].pop(0) for name in picks]
    projector = AnalyticsProjector(rules=settings.rules, store=event_store(settings))
    for start, end in itertools.pairwise([0, *cuts, TOTAL]):
        assert await apply_records(pool, projector, records(arrival[start:end])) == []

    expected = fold(cid, itertools.chain.from_iterable(topics.values()), settings.rules)
    async with pool.acquire() as conn:
        stored = await conn.fetchval("select state from customer_views where customer_id = $1", cid)
        view = await queries.customer_360(conn, cid, rules=settings.rules, now=NOW)
    assert stored == expected
    assert comparable(view) == comparable(render(expected, now=NOW, rules=settings.rules))
