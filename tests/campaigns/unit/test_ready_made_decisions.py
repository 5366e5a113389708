"""Each ready-made campaign is triggered by its event and decides as a marketer expects."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.campaigns.application.triggers import trigger_event_fields
from services.campaigns.domain.decision import Counters, Outcome, TriggeringEvent, decide
from services.campaigns.domain.definition import parse_definition
from services.campaigns.domain.ready_made import READY_MADE
from shared.contracts.campaigns import SuppressionReason

from .builders import NOON, POLICY, a_customer

# key → (event type, event data, customer overrides, expected outcome when it fires, data that must NOT fire)
CASES: dict[str, tuple[str | None, dict[str, Any], dict[str, Any], dict[str, Any] | None]] = {
    "welcome": ("OrderPlaced", {"total": Decimal("100")}, {"orders_count": 1}, None),
    "nps_after_first_order": ("OrderPlaced", {"total": Decimal("100")}, {"orders_count": 1}, None),
    "csat_ticket_resolved": ("TicketResolved", {"ticket_id": "t-1"}, {"open_complaints": 1}, None),
    "service_recovery": ("SlaBreached", {"ticket_id": "t-1"}, {"open_complaints": 1,
                                                               "last_sla_breach_at": NOON}, None),
    "service_recovery_detractor": ("SurveyAnswered", {"nps_category": "detractor", "score": 3},
                                   {"last_detractor_at": NOON}, {"nps_category": "passive", "score": 7}),
    "winback": ("ChurnRiskChanged", {"to_band": "high"}, {}, {"to_band": "medium"}),
    "loyalty_high_value": ("SegmentEntered", {"segment": "high_value"}, {}, {"segment": "loyal"}),
    "cashback": ("OrderPlaced", {"total": Decimal("2500.00")}, {}, {"total": Decimal("1999.99")}),
    "birthday": (None, {}, {}, None),
    "cross_sell": ("RecommendationsChanged", {"recommendations": [{"sku": "SKU-B", "score": 2, "because_of": "SKU-A"}]},
                   {"recommended_skus": ("SKU-B",)}, {"recommendations": []}),
}


def run(key: str, data: dict[str, Any], customer: dict[str, Any], *, check: bool = True) -> Outcome:
    _, definition = parse_definition(READY_MADE[key])
    event_type = CASES[key][0] or "Scheduled"
    return decide(campaign_id=f"ready-{key}", campaign=definition, customer=a_customer(**customer),
                  event=TriggeringEvent(str(uuid.uuid4()), event_type, data), counters=Counters(), policy=POLICY,
                  now=NOON, event_fields=trigger_event_fields().get(event_type, frozenset()),
                  check_condition=check).outcome


@pytest.mark.parametrize("key", sorted(CASES))
def test_ready_made_campaign_reaches_its_customer(key: str) -> None:
    _, data, customer, _ = CASES[key]
    # A control group may hold this customer out; either way the campaign was triggered and eligible.
    assert run(key, data, customer) in (Outcome.SENT, Outcome.HELD_OUT)


@pytest.mark.parametrize("key", [k for k, case in sorted(CASES.items()) if case[3] is not None])
def test_ready_made_campaign_ignores_events_that_do_not_match(key: str) -> None:
    _, _, customer, non_matching = CASES[key]
    assert non_matching is not None
    assert run(key, non_matching, customer) is Outcome.NOT_TRIGGERED


def test_welcome_is_only_for_the_first_order() -> None:
    assert run("welcome", {"total": Decimal("1")}, {"orders_count": 2}) is Outcome.NOT_TRIGGERED


def test_promotions_wait_while_a_complaint_is_open_but_service_recovery_does_not() -> None:
    _, definition = parse_definition(READY_MADE["cashback"])
    decision = decide(campaign_id="x", campaign=definition, customer=a_customer(open_complaints=1),
                      event=TriggeringEvent("e", "OrderPlaced", {"total": Decimal("3000")}), counters=Counters(),
                      policy=POLICY, now=NOON, event_fields=trigger_event_fields()["OrderPlaced"])
    assert decision.reason is SuppressionReason.SERVICE_RECOVERY_HOLD
    recent = {"open_complaints": 1, "last_sla_breach_at": NOON - timedelta(hours=1)}
    assert run("service_recovery", {"ticket_id": "t"}, recent) in (Outcome.SENT, Outcome.HELD_OUT)


def test_cross_sell_offers_the_first_recommended_product_without_a_live_offer() -> None:
    # no control group here: a random customer id would be held out one time in ten
    _, definition = parse_definition({**READY_MADE["cross_sell"], "control_group_pct": 0})
    customer = a_customer(recommended_skus=("SKU-B", "SKU-C"))
    event = TriggeringEvent("e", "RecommendationsChanged", {"recommendations": [{"sku": "SKU-B"}, {"sku": "SKU-C"}]})
    decision = decide(campaign_id="cross-sell", campaign=definition, customer=customer, event=event,
                      counters=Counters(live_offer_products=frozenset({"sku:SKU-B"})), policy=POLICY, now=NOON,
                      event_fields=trigger_event_fields()["RecommendationsChanged"])
    assert decision.outcome is Outcome.SENT
    assert decision.offer is not None
    assert (decision.offer.sku, decision.offer.discount_pct, decision.offer.valid_days) == ("SKU-C", 10, 30)
