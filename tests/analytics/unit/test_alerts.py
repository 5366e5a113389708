"""Account managers' alerts, the pure rules (services/analytics/domain/alerts.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.analytics.adapters.rules_file import load_rules
from services.analytics.domain import alerts
from services.analytics.domain.rules import AlertRules, AnalyticsRules

RULES = AnalyticsRules()
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
MANAGED = alerts.Subject(account_manager_id="am-1", orders=3, order_total=Decimal("3000"))


def decide(event_type: str, data: dict[str, object], subject: alerts.Subject = MANAGED,
           rules: AnalyticsRules = RULES) -> alerts.Candidate | None:
    return alerts.decide(event_type, data, event_id="e1", at=NOW, subject=subject, rules=rules)


def test_complaints_breaches_and_detractors_alert_with_the_event_as_provenance() -> None:
    complaint = decide("ComplaintFiled", {"category": "delivery", "priority": "high"})
    assert complaint is not None and complaint.kind == "complaint" and complaint.provenance == ("e1",)
    assert "delivery" in complaint.reason and complaint.decided_at == NOW
    breach = decide("SlaBreached", {"target": "resolution"})
    assert breach is not None and breach.kind == "sla_breach"
    detractor = decide("SurveyAnswered", {"kind": "nps", "score": 3})
    assert detractor is not None and detractor.kind == "detractor"
    assert decide("SurveyAnswered", {"kind": "nps", "score": 8}) is None
    assert decide("SurveyAnswered", {"kind": "csat", "score": 2}) is None
    assert decide("SurveyAnswered", {"kind": "nps", "score": 9, "nps_category": "detractor"}) is not None


def test_an_order_alerts_at_the_configured_multiple_of_the_average_once_there_is_an_average() -> None:
    assert decide("OrderPlaced", {"total": "2999.99"}) is None  # average 1000, multiple 3
    big = decide("OrderPlaced", {"total": "3000.00"})
    assert big is not None and big.kind == "large_order" and "3.0x" in big.reason
    first = alerts.Subject(account_manager_id="am-1", orders=1, order_total=Decimal("10"))
    assert decide("OrderPlaced", {"total": "99999"}, subject=first) is None  # one earlier order is no average
    lenient = AnalyticsRules(alerts=AlertRules(large_order_multiple=Decimal("1.5"), large_order_min_previous=1))
    assert decide("OrderPlaced", {"total": "1500"}, rules=lenient) is not None


def test_churn_alerts_only_when_the_band_rises_to_the_configured_band() -> None:
    up = decide("ChurnRiskChanged", {"from_band": "low", "to_band": "medium", "score": "0.4",
                                     "provenance": ["p1", "p2"]})
    assert up is not None and up.provenance == ("e1", "p1", "p2")
    assert decide("ChurnRiskChanged", {"from_band": "high", "to_band": "medium"}) is None
    high_only = AnalyticsRules(alerts=AlertRules(churn_min_band="high"))
    assert decide("ChurnRiskChanged", {"from_band": "low", "to_band": "medium"}, rules=high_only) is None
    assert decide("ChurnRiskChanged", {"from_band": "medium", "to_band": "high"}, rules=high_only) is not None


def test_high_value_entry_alerts_other_segments_do_not_and_kinds_switch_off() -> None:
    assert decide("SegmentEntered", {"segment": "high_value", "provenance": []}) is not None
    assert decide("SegmentEntered", {"segment": "loyal"}) is None
    quiet = AnalyticsRules(alerts=AlertRules(enabled=("sla_breach",)))
    assert decide("ComplaintFiled", {}, rules=quiet) is None
    assert decide("SlaBreached", {"target": "resolution"}, rules=quiet) is not None


def test_the_window_is_symmetric_and_configurable() -> None:
    assert alerts.within_window(NOW, [NOW - timedelta(days=6, hours=23)], RULES)
    assert alerts.within_window(NOW, [NOW + timedelta(days=1)], RULES)  # a late event of an earlier time
    assert not alerts.within_window(NOW, [NOW - timedelta(days=7)], RULES)
    assert not alerts.within_window(NOW, [], RULES)
    wide = AnalyticsRules(alerts=AlertRules(window_days=30))
    assert alerts.within_window(NOW, [NOW - timedelta(days=20)], wide)


def test_special_days_remind_from_days_before_until_the_day() -> None:
    since = datetime(2023, 3, 5, 12, 0, tzinfo=UTC)
    found = alerts.special_days(birth_date=date(1980, 3, 9), customer_since=since, now=NOW, rules=RULES)
    assert [(c.kind, c.due_on, c.occasion) for c in found] == [
        ("birthday", date(2026, 3, 9), "birthday:2026"), ("anniversary", date(2026, 3, 5), "anniversary:2026")]
    assert "1980" not in found[0].reason and "03-09" not in found[0].reason  # the day stays in the read model
    assert found[1].reason == "3 years as a customer in 3 days."
    assert alerts.special_days(birth_date=date(1980, 3, 10), customer_since=None, now=NOW, rules=RULES) == []
    on_the_day = alerts.special_days(birth_date=date(1980, 3, 2), customer_since=None, now=NOW, rules=RULES)
    assert [c.due_on for c in on_the_day] == [date(2026, 3, 2)]
    # past this year's day: next year's, out of reach
    assert alerts.special_days(birth_date=date(1980, 3, 1), customer_since=None, now=NOW, rules=RULES) == []


def test_no_anniversary_in_the_first_year_and_29_february_falls_on_the_28th() -> None:
    new = datetime(2026, 3, 1, tzinfo=UTC)
    assert alerts.special_days(birth_date=None, customer_since=new, now=NOW, rules=RULES) == []
    assert alerts.next_occurrence(date(2000, 2, 29), date(2026, 2, 20)) == date(2026, 2, 28)
    assert alerts.next_occurrence(date(2000, 2, 29), date(2027, 12, 31)) == date(2028, 2, 29)
    year_end = datetime(2026, 12, 28, tzinfo=UTC)
    found = alerts.special_days(birth_date=date(1990, 1, 2), customer_since=None, now=year_end, rules=RULES)
    assert [(c.due_on, c.occasion) for c in found] == [(date(2027, 1, 2), "birthday:2027")]


@pytest.mark.parametrize("days_before", [0, 3, 14])
def test_days_before_is_configurable(days_before: int) -> None:
    rules = AnalyticsRules(alerts=AlertRules(special_day_days_before=days_before))
    due = NOW.date() + timedelta(days=days_before)
    assert alerts.special_days(birth_date=due.replace(year=1985), customer_since=None, now=NOW, rules=rules)
    late = due + timedelta(days=1)
    assert not alerts.special_days(birth_date=late.replace(year=1985), customer_since=None, now=NOW, rules=rules)
    assert "birthday" not in AnalyticsRules(alerts=AlertRules(enabled=("complaint",))).alerts.enabled


def test_rules_load_from_yaml(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "rules.yaml"
    path.write_text("alerts: {window_days: 14, large_order_multiple: '2.5', enabled: [complaint, birthday]}\n")
    rules = load_rules(path)
    assert rules.alerts.window_days == 14 and rules.alerts.large_order_multiple == Decimal("2.5")
    assert rules.alerts.enabled == ("complaint", "birthday")
    path.write_text("alerts: {enabled: [not_a_kind]}\n")
    with pytest.raises(ValueError):
        load_rules(path)


def bought(count: int, every_days: float, last_days_ago: float, sku: str = "COFFEE-1") -> alerts.Purchases:
    last = NOW - timedelta(days=last_days_ago)
    return alerts.Purchases(sku, count, last - timedelta(days=every_days * (count - 1)), last, "e-last")


def test_a_regular_purchase_is_overdue_after_one_and_a_half_of_its_intervals() -> None:
    assert alerts.replenishment_due([bought(3, 10, 14)], now=NOW, rules=RULES) == []
    (due,) = alerts.replenishment_due([bought(3, 10, 16)], now=NOW, rules=RULES)
    assert (due.kind, due.rule, due.provenance) == ("replenishment", "alert.replenishment", ("e-last",))
    assert "COFFEE-1 3 times, about every 10 days" in due.reason and "16 days ago" in due.reason
    assert due.occasion == f"replenishment:COFFEE-1:{(NOW - timedelta(days=16)).date().isoformat()}"


def test_no_rhythm_no_replenishment_and_the_rule_can_be_switched_off() -> None:
    assert alerts.replenishment_due([bought(2, 10, 40)], now=NOW, rules=RULES) == []  # two purchases: no rhythm yet
    assert alerts.replenishment_due([bought(4, 0.2, 40)], now=NOW, rules=RULES) == []  # same-day orders
    off = AnalyticsRules(alerts=AlertRules(enabled=("complaint",)))
    assert alerts.replenishment_due([bought(3, 10, 40)], now=NOW, rules=off) == []
    stricter = AnalyticsRules(alerts=AlertRules(replenishment_min_purchases=4, replenishment_overdue_factor=Decimal(3)))
    assert alerts.replenishment_due([bought(3, 10, 40)], now=NOW, rules=stricter) == []
    assert len(alerts.replenishment_due([bought(4, 10, 31)], now=NOW, rules=stricter)) == 1
