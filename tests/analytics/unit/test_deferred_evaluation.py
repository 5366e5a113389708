"""A fold settles only its last fact's evaluation: the states equal evaluating in full after every fact."""

from __future__ import annotations

from collections import defaultdict
from functools import partial

from services.analytics.domain import model
from services.analytics.domain.model import Fact, State
from services.analytics.domain.rules import AnalyticsRules
from tests.analytics.builders import generated_history

RULES = AnalyticsRules()
TIGHT = AnalyticsRules(high_value_min_clv=300, dissolution_inactive_days=30, churn_inactivity_full_days=20,
                       serial_complainer_window_days=45, loyal_min_orders=2, tier_silver_min=100)
"""Thresholds low enough that traits flip back and forth inside one customer's history."""


def _by_customer(facts: list[Fact]) -> dict[str, list[Fact]]:
    grouped: dict[str, list[Fact]] = defaultdict(list)
    for fact in facts:
        grouped[fact.origin].append(fact)
    return grouped


def _settled_after_every_fact(customer_id: str, facts: list[Fact], rules: AnalyticsRules) -> State:
    state = model.empty_state(customer_id)
    for fact in sorted(facts, key=lambda fact: fact.sort_key):
        model.apply(state, fact, rules, settle=True)
    return state


def test_a_fold_equals_evaluating_every_trait_in_full_after_every_fact() -> None:
    for rules in (RULES, TIGHT):
        customers = _by_customer(generated_history(150, seed=23))
        changed = 0
        for customer_id, facts in customers.items():
            expected = _settled_after_every_fact(customer_id, facts, rules)
            assert model.fold(customer_id, facts, rules) == expected, customer_id
            changed += len(expected["traits"]["segments"]) + len(expected["traits"]["dissolutions"])
        assert changed > 0, "the histories must move some traits, or the comparison proves nothing"


def test_facts_arriving_in_small_batches_and_late_give_the_state_of_one_fold() -> None:
    customers = _by_customer(generated_history(120, seed=5))
    for customer_id, facts in customers.items():
        arrived: list[Fact] = []
        state: State | None = None
        # newest first, two at a time: every batch after the first sorts before what was folded
        ordered = sorted(facts, key=lambda fact: fact.sort_key, reverse=True)
        for start in range(0, len(ordered), 2):
            batch = ordered[start:start + 2]
            state = model.project(state, customer_id, batch, partial(list, arrived), TIGHT)
            arrived.extend(batch)
        assert state == _settled_after_every_fact(customer_id, facts, TIGHT), customer_id


def test_an_unsettled_evaluation_only_skips_what_the_next_one_overwrites() -> None:
    customer_id, facts = next(iter(_by_customer(generated_history(5, seed=3)).items()))
    ordered = sorted(facts, key=lambda fact: fact.sort_key)
    state = model.empty_state(customer_id)
    for fact in ordered[:-1]:
        model.apply(state, fact, RULES, settle=False)
    before = model.copy_state(state)
    model.apply(state, ordered[-1], RULES, settle=True)
    assert state == _settled_after_every_fact(customer_id, facts, RULES)
    assert before["traits"]["lifecycle"] is not None, "a change (the first stage) is always written"


def test_evaluating_with_own_traits_equals_a_full_copy_and_leaves_the_state_untouched() -> None:
    """What a 360 read and the sweep rely on: ``evaluate`` writes only ``traits``."""
    later = model.parse_iso("2031-01-01T00:00:00Z")
    compared = 0
    for customer_id, facts in _by_customer(generated_history(120, seed=31)).items():
        state = model.fold(customer_id, facts, TIGHT)
        before = model.copy_state(state)
        for now in (model.parse_iso(state["last_event_at"]) if state["last_event_at"] else later, later):
            expected = model.evaluate(model.copy_state(state), now, TIGHT)
            assert model.evaluate(model.with_own_traits(state), now, TIGHT) == expected, customer_id
            assert state == before, f"{customer_id}: evaluating the read copy changed the stored state"
            compared += 1
    assert compared > 100
