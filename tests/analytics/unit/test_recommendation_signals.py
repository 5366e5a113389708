"""RecommendationsChanged: published when the ranked skus differ from the last published list, else nothing."""

from __future__ import annotations

from uuid import UUID

from services.analytics.domain import formulas as f
from services.analytics.domain.model import fold, owned_products
from services.analytics.domain.rules import AnalyticsRules
from services.analytics.domain.signals import RECOMMENDATIONS_RULE, recommendations_change
from tests.analytics.builders import at, new_customer_id, order_placed

RULES = AnalyticsRules()
CO_PURCHASES = {"A": {"B": 3, "C": 1}, "B": {"A": 3, "C": 2}, "C": {"A": 1, "B": 2}}
"""Customers owning both: A+B three, B+C two, A+C one."""


def a_buyer_of(*skus: str):  # type: ignore[no-untyped-def]
    cid = new_customer_id()
    facts = [order_placed(cid, at(n), sku=sku) for n, sku in enumerate(skus)]
    return fold(cid, facts, RULES), facts


def change(state, published, recommended=None):  # type: ignore[no-untyped-def]
    if recommended is None:
        recommended = f.recommend(owned_products(state), CO_PURCHASES, RULES.recommendations_limit)
    return recommendations_change(state, published, recommended, provenance_limit=3, now=at(99))


def test_a_first_list_is_published_best_first_with_scores_and_the_orders_behind_it() -> None:
    state, facts = a_buyer_of("A")
    signal = change(state, [])
    assert signal is not None
    assert [(p.sku, p.score, p.because_of) for p in signal.recommendations] == [("B", 3, "A"), ("C", 1, "A")]
    assert signal.previous_skus == []
    assert signal.customer_id == UUID(state["customer_id"])
    assert signal.rule == RECOMMENDATIONS_RULE
    assert signal.provenance == [UUID(facts[0].event_id)]
    assert signal.decided_at == facts[0].at  # the deciding fact's time, not the clock's
    assert "B first" in signal.reason


def test_the_same_skus_in_the_same_order_publish_nothing_even_when_scores_moved() -> None:
    state, _ = a_buyer_of("A")
    assert change(state, ["B", "C"]) is None
    moved = [{"sku": "B", "score": 30, "because_of": "A"}, {"sku": "C", "score": 10, "because_of": "A"}]
    assert change(state, ["B", "C"], moved) is None


def test_a_new_ranking_is_a_change_that_names_the_previous_list() -> None:
    state, _ = a_buyer_of("A", "B")
    signal = change(state, ["B", "C"])
    assert signal is not None
    assert [p.sku for p in signal.recommendations] == ["C"]
    assert signal.previous_skus == ["B", "C"]


def test_a_list_that_empties_is_published_once_and_nothing_to_nothing_is_not() -> None:
    state, _ = a_buyer_of("A", "B", "C")
    emptied = change(state, ["C"])
    assert emptied is not None
    assert emptied.recommendations == []
    assert emptied.reason == "nothing left to recommend"
    assert change(state, []) is None


def test_the_provenance_keeps_the_most_recent_orders_up_to_the_limit() -> None:
    state, facts = a_buyer_of("X", "Y", "Z", "A")
    signal = change(state, [])
    assert signal is not None
    assert set(signal.provenance) == {UUID(fact.event_id) for fact in facts[-3:]}
