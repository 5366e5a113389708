"""Every formula and rule, one behaviour per test (pure, milliseconds)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.analytics.adapters.rules_file import load_rules
from services.analytics.domain import formulas as f
from services.analytics.domain.rules import AnalyticsRules

RULES = AnalyticsRules()


def trait_inputs(**overrides: object) -> f.TraitInputs:
    values: dict[str, object] = {
        "status": "active",
        "orders": 0,
        "tenure_days": 0,
        "days_since_last_order": None,
        "days_inactive": 0,
        "clv_historic": Decimal(0),
        "total_margin": Decimal(0),
        "churn_score": Decimal(0),
        "complaints_in_window": 0,
        "overdue_total": 0,
        "average_days_late": None,
        "orders_with_offer": 0,
        "fraud_signals": 0,
    }
    values.update(overrides)
    return f.TraitInputs(**values)  # type: ignore[arg-type]


def churn_inputs(**overrides: object) -> f.ChurnInputs:
    values: dict[str, object] = {
        "days_inactive": 0,
        "complaints_recent": 0,
        "last_nps_category": None,
        "overdue_open": 0,
        "sla_breaches_recent": 0,
        "orders": 1,
        "returns": 0,
    }
    values.update(overrides)
    return f.ChurnInputs(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("score", "category"),
    [(10, "promoter"), (9, "promoter"), (8, "passive"), (7, "passive"), (6, "detractor"), (0, "detractor")],
)
def test_nps_categories_follow_seed_001(score: int, category: str) -> None:
    assert f.nps_category(score, RULES) == category


def test_nps_is_percent_promoters_minus_percent_detractors() -> None:
    result = f.net_promoter_score([10, 9, 9, 8, 7, 3, 0, 10, 6, 9], RULES)
    assert (result.promoters, result.passives, result.detractors) == (5, 2, 3)
    assert result.nps == Decimal("20.0")


def test_nps_without_answers_is_none() -> None:
    assert f.net_promoter_score([], RULES).nps is None


def test_historic_clv_is_margin_plus_costless_revenue_minus_acquisition() -> None:
    value = f.clv_historic(
        margin_known=Decimal("300.00"), revenue_without_cost=Decimal("50.00"), acquisition_cost=Decimal("100")
    )
    assert value == Decimal("250.00")


def test_historic_clv_without_acquisition_cost() -> None:
    assert f.clv_historic(
        margin_known=Decimal("10"), revenue_without_cost=Decimal("0"), acquisition_cost=None
    ) == Decimal("10.00")


def test_predicted_clv_adds_discounted_retained_future_value() -> None:
    predicted = f.clv_predicted(
        historic=Decimal("900"),
        value_to_date=Decimal("1000"),
        tenure_days=365,
        churn_score=Decimal("0"),
        rules=RULES,
    )
    factor = sum((Decimal("0.9") ** t) / (Decimal("1.08") ** t) for t in range(1, 4))
    assert predicted == f.money(Decimal("900") + Decimal("1000") * factor)


def test_predicted_clv_falls_with_churn_risk() -> None:
    kwargs = {"historic": Decimal("0"), "value_to_date": Decimal("1000"), "tenure_days": 365, "rules": RULES}
    assert f.clv_predicted(churn_score=Decimal("0.8"), **kwargs) < f.clv_predicted(  # type: ignore[arg-type]
        churn_score=Decimal("0.1"),
        **kwargs,  # type: ignore[arg-type]
    )


def test_predicted_clv_without_value_is_historic() -> None:
    assert f.clv_predicted(
        historic=Decimal("-100.00"), value_to_date=Decimal(0), tenure_days=10, churn_score=Decimal(0), rules=RULES
    ) == Decimal("-100.00")


@pytest.mark.parametrize(
    ("clv", "tier"), [("0", "bronze"), ("499.99", "bronze"), ("500", "silver"), ("2000", "gold"), ("10000", "platinum")]
)
def test_value_tiers(clv: str, tier: str) -> None:
    assert f.value_tier(Decimal(clv), RULES) == tier


def test_churn_of_a_happy_active_customer_is_low_with_no_factors() -> None:
    risk = f.churn_risk(churn_inputs(), RULES)
    assert (risk.score, risk.band, risk.factors) == (Decimal("0.0000"), "low", {})


def test_churn_factors_add_up_and_are_reported() -> None:
    risk = f.churn_risk(churn_inputs(days_inactive=90, complaints_recent=3, last_nps_category="detractor"), RULES)
    assert risk.factors == {
        "inactivity": Decimal("0.1750"),
        "complaints": Decimal("0.2000"),
        "detractor": Decimal("0.2000"),
    }
    assert risk.score == Decimal("0.5750")
    assert risk.band == "medium"


def test_churn_score_is_clipped_to_one_and_high() -> None:
    rules = AnalyticsRules(churn_weights={"inactivity": "1", "complaints": "1"})  # type: ignore[arg-type]
    risk = f.churn_risk(churn_inputs(days_inactive=500, complaints_recent=9), rules)
    assert risk.score == Decimal("1.0000")
    assert risk.band == "high"


def test_churn_bands_are_configurable() -> None:
    rules = AnalyticsRules(churn_band_medium_min=Decimal("0.1"), churn_band_high_min=Decimal("0.2"))
    assert f.churn_band(Decimal("0.15"), rules) == "medium"
    assert f.churn_band(Decimal("0.15"), RULES) == "low"


def test_rules_refuse_inconsistent_thresholds() -> None:
    with pytest.raises(ValueError, match="churn bands"):
        AnalyticsRules(churn_band_medium_min=Decimal("0.7"), churn_band_high_min=Decimal("0.6"))


def test_rules_load_from_yaml(tmp_path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("high_value_min_clv: 100\nchurn_weights:\n  inactivity: '0.5'\n")
    rules = load_rules(path)
    assert rules.high_value_min_clv == Decimal(100)
    assert rules.churn_weights.inactivity == Decimal("0.5")


@pytest.mark.parametrize(
    ("overrides", "stage", "rule"),
    [
        ({}, "discovery", "discovery.no_purchase"),
        ({"orders": 1}, "awareness", "awareness.first_purchase"),
        ({"orders": 2}, "expansion", "expansion.repeat_purchase"),
        ({"orders": 4, "tenure_days": 200, "days_since_last_order": 10}, "commitment", "commitment.repeat_recent"),
        ({"orders": 4, "tenure_days": 200, "days_since_last_order": 200}, "expansion", "expansion.repeat_purchase"),
        ({"orders": 4, "days_inactive": 400}, "dissolution", "dissolution.inactive"),
        ({"status": "erased", "orders": 3}, "dissolution", "dissolution.erased"),
        ({"fraud_signals": 2}, "dissolution", "dissolution.fraud"),
    ],
)
def test_lifecycle_stage_rules(overrides: dict[str, object], stage: str, rule: str) -> None:
    assert f.lifecycle_stage(trait_inputs(**overrides), RULES) == (stage, rule)


@pytest.mark.parametrize(
    ("overrides", "segment"),
    [
        ({"clv_historic": Decimal("5000")}, "high_value"),
        ({"orders": 5, "tenure_days": 400}, "loyal"),
        ({"orders": 1, "churn_score": Decimal("0.5")}, "at_risk"),
        ({"orders": 1, "clv_historic": Decimal("-1")}, "loss_making"),
        ({"complaints_in_window": 3}, "serial_complainer"),
        ({"overdue_total": 2}, "late_payer"),
        ({"average_days_late": Decimal(20)}, "late_payer"),
        ({"orders": 3, "orders_with_offer": 3}, "deal_seeker"),
        ({"fraud_signals": 2}, "fraud_flagged"),
    ],
)
def test_each_segment_rule_admits(overrides: dict[str, object], segment: str) -> None:
    assert segment in f.segments(trait_inputs(**overrides), RULES)


@pytest.mark.parametrize(
    ("overrides", "segment"),
    [
        ({"clv_historic": Decimal("4999.99")}, "high_value"),
        ({"orders": 5, "tenure_days": 400, "churn_score": Decimal("0.4")}, "loyal"),
        ({"orders": 0, "churn_score": Decimal("0.9")}, "at_risk"),
        ({"complaints_in_window": 2}, "serial_complainer"),
        ({"overdue_total": 1, "average_days_late": Decimal(3)}, "late_payer"),
        ({"orders": 3, "orders_with_offer": 2}, "deal_seeker"),
        ({"fraud_signals": 1}, "fraud_flagged"),
    ],
)
def test_each_segment_rule_refuses_just_below_its_threshold(overrides: dict[str, object], segment: str) -> None:
    assert segment not in f.segments(trait_inputs(**overrides), RULES)


def test_an_erased_customer_is_in_no_segment() -> None:
    assert f.segments(trait_inputs(status="erased", clv_historic=Decimal("9999")), RULES) == {}


def test_recommendations_rank_co_purchases_and_exclude_owned() -> None:
    co = {"A": {"B": 5, "C": 2, "D": 1}, "B": {"A": 5, "C": 4}, "X": {"Y": 9}}
    assert f.recommend(["A", "B"], co, 2) == [
        {"sku": "C", "score": 6, "because_of": "B"},
        {"sku": "D", "score": 1, "because_of": "A"},
    ]
