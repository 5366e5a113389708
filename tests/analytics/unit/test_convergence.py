"""Property: any interleaving of one customer's per-topic sequences converges to the same view.

Kafka keeps each topic's events of a customer in order but promises nothing across topics, and the
projector receives them in batches of any size. Whatever the interleaving and batching, the state
(and so the 360 document and the signals' inputs) must equal the in-order fold.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics.application.views import render
from services.analytics.domain.model import Fact, fold, project
from services.analytics.domain.rules import AnalyticsRules
from tests.analytics.builders import at, per_topic_history

RULES = AnalyticsRules()
CID = "0b0e6c51-5f57-4cde-9d59-1f3b8a5b0c11"


TOPICS = per_topic_history(CID)
ALL = [fact for facts in TOPICS.values() for fact in facts]
EXPECTED = fold(CID, ALL, RULES)


@st.composite
def deliveries(draw: st.DrawFn) -> list[list[Fact]]:
    """An interleaving that keeps each topic's order, cut into batches."""
    queues = {name: list(facts) for name, facts in TOPICS.items()}
    order: list[Fact] = []
    while any(queues.values()):
        name = draw(st.sampled_from(sorted(n for n, q in queues.items() if q)))
        order.append(queues[name].pop(0))
    cuts = sorted(draw(st.sets(st.integers(1, len(order) - 1), max_size=8)))
    bounds = [0, *cuts, len(order)]
    return [order[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deliveries())
def test_any_interleaving_and_batching_gives_the_same_view(batches: list[list[Fact]]) -> None:
    seen: list[Fact] = []
    state = None
    for batch in batches:
        state = project(state, CID, batch, lambda: list(seen), RULES)
        seen.extend(batch)
    assert state == EXPECTED
    now = at(100)
    assert render(state, now=now, rules=RULES) == render(EXPECTED, now=now, rules=RULES)


def test_the_history_exercises_the_interesting_traits() -> None:
    view = render(EXPECTED, now=at(61), rules=RULES)
    assert view["orders"]["count"] == 2
    assert view["service"]["complaints_total"] == 2
    assert view["feedback"]["last_nps"] == 9
    assert view["payments"]["overdue_total"] == 1
