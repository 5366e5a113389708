"""Property: any interleaving of one customer's per-topic sequences converges to the same view.

Kafka keeps each topic's events of a customer in order but promises nothing across topics, and the
projector receives them in batches of any size. Whatever the interleaving and batching, the state
(and so the 360 document and the signals' inputs) must equal the in-order fold.
"""

from __future__ import annotations

import itertools
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics.domain.model import Fact, fold, project, render
from services.analytics.domain.rules import AnalyticsRules
from tests.analytics.builders import (
    at,
    complaint_filed,
    invoice_issued,
    offer_sent,
    order_placed,
    order_status,
    payment_overdue,
    payment_received,
    registered,
    survey_answered,
    ticket_opened,
    ticket_resolved,
)

RULES = AnalyticsRules()
CID = "0b0e6c51-5f57-4cde-9d59-1f3b8a5b0c11"


def history() -> dict[str, list[Fact]]:
    """A realistic history: per topic, in topic order, times spread over months."""
    o1, o2, o3 = (str(uuid.UUID(int=i)) for i in (1, 2, 3))
    inv = str(uuid.UUID(int=10))
    t1, t2 = str(uuid.UUID(int=21)), str(uuid.UUID(int=22))
    customer = [
        registered(CID, at(0)),
        order_placed(CID, at(1), order_id=o1, total="120.00", margin="30.00", offer_code="X"),
        invoice_issued(CID, inv, o1, at(1, 1), amount="120.00"),
        order_status("OrderDelivered", CID, o1, at(4)),
        order_placed(CID, at(30), order_id=o2, total="80.00", margin=None, category="tea"),
        payment_overdue(CID, inv, o1, at(31), amount="120.00"),
        payment_received(CID, inv, o1, at(35), amount="120.00", days_late=6, method="transfer"),
        order_placed(CID, at(60), order_id=o3, total="999.00", margin="400.00", sku="SKU-2"),
        order_status("OrderCancelled", CID, o3, at(61), total="999.00", currency="EUR"),
    ]
    ticketing = [
        ticket_opened(CID, t1, at(5)),
        complaint_filed(CID, t1, at(5)),
        ticket_resolved(CID, t1, at(6)),
        ticket_opened(CID, t2, at(32)),
        complaint_filed(CID, t2, at(32)),
    ]
    campaigns = [
        survey_answered(CID, 3, at(7)),
        offer_sent(CID, at(20)),
        survey_answered(CID, 9, at(40)),
        survey_answered(CID, 4, at(41), kind="csat"),
    ]
    # a survey answered before the registration was applied is the classic case; give one fact
    # the same instant as another on a different topic to exercise the id tie-break
    campaigns.insert(0, survey_answered(CID, 10, at(0)))
    return {"customer": customer, "ticketing": ticketing, "campaigns": campaigns}


TOPICS = history()
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
