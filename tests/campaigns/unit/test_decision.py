"""The decision rules, one by one (pure; no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from services.campaigns.domain.decision import (
    Counters,
    MarketingPolicy,
    Outcome,
    decide,
    in_control_group,
    offer_code_for,
    quiet_hours_end,
)
from shared.contracts.campaigns import Channel, SuppressionReason

from .builders import NOON, POLICY, a_campaign, a_customer, an_order_event


def decide_for(campaign=None, customer=None, event=None, counters=None, policy=POLICY, now=NOON, cid="c-1"):  # type: ignore[no-untyped-def]
    return decide(
        campaign_id=cid,
        campaign=campaign or a_campaign(),
        customer=customer or a_customer(),
        event=event or an_order_event(),
        counters=counters or Counters(),
        policy=policy,
        now=now,
        event_fields=frozenset({"total", "offer_code"}),
    )


def test_sends_on_the_first_channel_in_preference_order_with_consent() -> None:
    decision = decide_for(customer=a_customer(consents=frozenset({Channel.SMS})))
    assert decision.outcome is Outcome.SENT
    assert decision.channel is Channel.SMS
    assert decision.cost == Decimal("0.50")


def test_condition_false_is_not_triggered() -> None:
    assert decide_for(event=an_order_event("900.00")).outcome is Outcome.NOT_TRIGGERED


def test_excluded_segment_is_not_triggered() -> None:
    customer = a_customer(segments=frozenset({"fraud_flagged"}))
    assert decide_for(customer=customer).outcome is Outcome.NOT_TRIGGERED


def test_included_segment_is_required_when_given() -> None:
    campaign = a_campaign(audience={"include_segments": ["loyal"]})
    assert decide_for(campaign=campaign).outcome is Outcome.NOT_TRIGGERED
    assert decide_for(campaign=campaign, customer=a_customer(segments=frozenset({"loyal"}))).outcome is Outcome.SENT


def test_outside_the_campaign_dates_is_not_triggered() -> None:
    campaign = a_campaign(ends_at=(NOON - timedelta(days=1)).isoformat())
    assert decide_for(campaign=campaign).outcome is Outcome.NOT_TRIGGERED


def test_no_consent_on_any_allowed_channel_is_suppressed() -> None:
    decision = decide_for(customer=a_customer(consents=frozenset({Channel.PUSH})))
    assert (decision.outcome, decision.reason) == (Outcome.SUPPRESSED, SuppressionReason.NO_CONSENT)


def test_campaign_cap_reached_is_suppressed() -> None:
    decision = decide_for(counters=Counters(reached_by_campaign=1))
    assert decision.reason is SuppressionReason.CAMPAIGN_CAP


def test_global_frequency_cap_is_suppressed() -> None:
    decision = decide_for(counters=Counters(marketing_sent_in_window=3))
    assert decision.reason is SuppressionReason.FREQUENCY_CAP


def test_frequency_cap_does_not_stop_surveys() -> None:
    survey = a_campaign(objective="survey", action={"kind": "survey", "survey_kind": "nps",
                                                    "channels": ["email"], "template": "nps"}, budget=None)
    assert decide_for(campaign=survey, counters=Counters(marketing_sent_in_window=9)).outcome is Outcome.SENT


def test_a_live_offer_for_the_same_product_blocks_another_offer() -> None:
    decision = decide_for(counters=Counters(live_offer_products=frozenset({"sku:DEPOSIT-12M"})))
    assert decision.reason is SuppressionReason.CHANNEL_CONFLICT


def test_a_live_offer_for_another_product_does_not_block() -> None:
    assert decide_for(counters=Counters(live_offer_products=frozenset({"sku:OTHER"}))).outcome is Outcome.SENT


def test_a_fixed_offer_is_what_a_sent_decision_offers() -> None:
    decision = decide_for()
    assert decision.offer is not None and decision.offer.sku == "DEPOSIT-12M"


RECOMMENDED_OFFER = {"kind": "offer", "channels": ["email"], "template": "recommended-for-you",
                     "offer": {"from_recommendations": True, "discount_pct": 10, "valid_days": 14}}


def test_an_offer_from_recommendations_offers_the_first_recommended_sku() -> None:
    decision = decide_for(campaign=a_campaign(action=RECOMMENDED_OFFER),
                          customer=a_customer(recommended_skus=("SKU-B", "SKU-C")))
    assert decision.outcome is Outcome.SENT
    assert decision.offer is not None
    assert (decision.offer.sku, decision.offer.discount_pct, decision.offer.valid_days) == ("SKU-B", 10, 14)
    assert decision.offer.product_key == "sku:SKU-B"


def test_an_offer_from_recommendations_skips_a_recommended_sku_with_a_live_offer() -> None:
    decision = decide_for(campaign=a_campaign(action=RECOMMENDED_OFFER),
                          customer=a_customer(recommended_skus=("SKU-B", "SKU-C")),
                          counters=Counters(live_offer_products=frozenset({"sku:SKU-B"})))
    assert decision.outcome is Outcome.SENT
    assert decision.offer is not None and decision.offer.sku == "SKU-C"


def test_an_offer_from_recommendations_without_any_is_suppressed_as_no_recommendation() -> None:
    decision = decide_for(campaign=a_campaign(action=RECOMMENDED_OFFER), customer=a_customer(recommended_skus=()))
    assert decision.outcome is Outcome.SUPPRESSED
    assert decision.reason is SuppressionReason.NO_RECOMMENDATION
    assert decision.offer is None


def test_an_offer_from_recommendations_all_on_live_offers_is_a_channel_conflict() -> None:
    decision = decide_for(campaign=a_campaign(action=RECOMMENDED_OFFER),
                          customer=a_customer(recommended_skus=("SKU-B", "SKU-C")),
                          counters=Counters(live_offer_products=frozenset({"sku:SKU-B", "sku:SKU-C"})))
    assert decision.reason is SuppressionReason.CHANNEL_CONFLICT
    assert decision.detail is not None and "SKU-B, SKU-C" in decision.detail


def test_budget_exhausted_is_suppressed_and_flags_exhaustion() -> None:
    decision = decide_for(counters=Counters(budget_spent=Decimal("999.95")))
    assert decision.reason is SuppressionReason.BUDGET_EXHAUSTED
    assert decision.budget_now_exhausted is True


def test_the_send_that_empties_the_budget_flags_exhaustion() -> None:
    decision = decide_for(counters=Counters(budget_spent=Decimal("999.85")))
    assert decision.outcome is Outcome.SENT
    assert decision.budget_now_exhausted is True


def test_erased_or_merged_customers_are_inactive() -> None:
    assert decide_for(customer=a_customer(erased=True)).reason is SuppressionReason.CUSTOMER_INACTIVE
    assert decide_for(customer=a_customer(merged_into="x")).reason is SuppressionReason.CUSTOMER_INACTIVE
    assert decide_for(customer=a_customer(known=False)).reason is SuppressionReason.CUSTOMER_INACTIVE


def test_open_complaint_holds_promotions() -> None:
    assert decide_for(customer=a_customer(open_complaints=1)).reason is SuppressionReason.SERVICE_RECOVERY_HOLD


def test_recent_sla_breach_and_detractor_hold_promotions_but_expire() -> None:
    breached = a_customer(last_sla_breach_at=NOON - timedelta(days=2))
    assert decide_for(customer=breached).reason is SuppressionReason.SERVICE_RECOVERY_HOLD
    long_ago = a_customer(last_sla_breach_at=NOON - timedelta(days=30))
    assert decide_for(customer=long_ago).outcome is Outcome.SENT
    detractor = a_customer(last_detractor_at=NOON - timedelta(days=3))
    assert decide_for(customer=detractor).reason is SuppressionReason.SERVICE_RECOVERY_HOLD


def test_service_recovery_goes_through_an_open_complaint() -> None:
    recovery = a_campaign(objective="service_recovery")
    assert decide_for(campaign=recovery, customer=a_customer(open_complaints=2)).outcome is Outcome.SENT


def test_control_group_is_deterministic_and_held_out() -> None:
    campaign = a_campaign(control_group_pct=50)
    customers = [a_customer() for _ in range(40)]
    first = [decide_for(campaign=campaign, customer=c, cid="camp").outcome for c in customers]
    again = [decide_for(campaign=campaign, customer=c, cid="camp").outcome for c in customers]
    assert first == again
    assert Outcome.HELD_OUT in first and Outcome.SENT in first


def test_control_group_share_is_close_to_the_percentage() -> None:
    held = sum(in_control_group("campaign-x", f"customer-{i}", 10) for i in range(10_000))
    assert 900 <= held <= 1100


def test_zero_percent_control_group_holds_no_one() -> None:
    assert not any(in_control_group("c", f"{i}", 0) for i in range(1000))


def test_quiet_hours_in_the_customer_time_zone_defer_the_send() -> None:
    late_in_istanbul = datetime(2026, 3, 10, 20, 30, tzinfo=UTC)  # 23:30 in Istanbul (UTC+3)
    decision = decide_for(customer=a_customer(timezone="Europe/Istanbul"), now=late_in_istanbul)
    assert decision.reason is SuppressionReason.QUIET_HOURS_DEFERRED
    assert decision.deferred_until == datetime(2026, 3, 11, 5, 0, tzinfo=UTC)  # 08:00 local


def test_quiet_hours_end_is_none_during_the_day() -> None:
    policy = MarketingPolicy(quiet_hours_start=time(21), quiet_hours_end=time(8))
    assert quiet_hours_end(NOON, "UTC", policy) is None
    assert quiet_hours_end(datetime(2026, 3, 10, 3, tzinfo=UTC), "UTC", policy) == datetime(2026, 3, 10, 8, tzinfo=UTC)


def test_offer_codes_are_stable_per_decision_and_differ_between_decisions() -> None:
    assert offer_code_for("c", "u", "e") == offer_code_for("c", "u", "e")
    assert offer_code_for("c", "u", "e") != offer_code_for("c", "u", "f")
