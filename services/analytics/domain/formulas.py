"""The formulas behind the 360 view: NPS, CLV, churn risk, lifecycle stage, segments, value tier.

Each is a pure function of plain numbers and the ``AnalyticsRules``, so every rule is unit-tested
in isolation and documented in ``docs/analytics-rules.md`` under the same name. Money is Decimal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple, TypeVar, get_args

from services.analytics.domain.rules import AnalyticsRules
from shared.contracts.analytics import LifecycleStage, Segment

CENT = Decimal("0.01")
SCORE = Decimal("0.0001")
ZERO = Decimal(0)
ONE = Decimal(1)

N = TypeVar("N", int, Decimal)
"""A score (int) or an amount (Decimal) compared with the rules' thresholds of the same kind."""

SEGMENTS: tuple[str, ...] = get_args(Segment)
STAGES: tuple[str, ...] = get_args(LifecycleStage)


def money(value: Decimal) -> Decimal:
    """Round to cents, half up (the way invoices round)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _band(value: N, bands: Iterable[tuple[N, str]], below: str) -> str:
    """The name of the first band whose minimum ``value`` reaches, else ``below``.

    The NPS category, value tier and churn band are each a ladder of thresholds from the rules;
    ``bands`` lists the rungs highest first, so the first reached is the one the value stands on.
    """
    for minimum, name in bands:
        if value >= minimum:
            return name
    return below


# --- NPS -----------------------------------------------------------------------------------------


def nps_category(score: int, rules: AnalyticsRules) -> str:
    """promoter (9-10), passive (7-8) or detractor (0-6) with the default thresholds."""
    return _band(score, ((rules.nps_promoter_min, "promoter"), (rules.nps_passive_min, "passive")), "detractor")


@dataclass(frozen=True, slots=True)
class NpsResult:
    promoters: int
    passives: int
    detractors: int

    @property
    def responses(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def nps(self) -> Decimal | None:
        """% promoters - % detractors, -100..100 with one decimal; ``None`` without responses."""
        if not self.responses:
            return None
        value = Decimal(100 * (self.promoters - self.detractors)) / Decimal(self.responses)
        return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def net_promoter_score(scores: Iterable[int], rules: AnalyticsRules) -> NpsResult:
    """Count the categories of a set of 0-10 answers."""
    counts = {"promoter": 0, "passive": 0, "detractor": 0}
    for score in scores:
        counts[nps_category(score, rules)] += 1
    return NpsResult(counts["promoter"], counts["passive"], counts["detractor"])


# --- CLV -----------------------------------------------------------------------------------------


def clv_historic(*, margin_known: Decimal, revenue_without_cost: Decimal, acquisition_cost: Decimal | None) -> Decimal:
    """Margin of orders whose cost is known, plus revenue of orders whose cost is not, minus acquisition."""
    return money(margin_known + revenue_without_cost - (acquisition_cost or ZERO))


def clv_predicted(
    *,
    historic: Decimal,
    value_to_date: Decimal,
    tenure_days: int,
    churn_score: Decimal,
    rules: AnalyticsRules,
) -> Decimal:
    """Historic CLV plus the discounted value of the next ``clv_horizon_years`` years.

    annual value = value_to_date / max(tenure, clv_min_tenure_days) * 365; each future year t is
    kept with probability (1 - p)^t, p = max(clv_base_annual_churn, churn_score), and discounted by
    (1 + clv_discount_rate)^t.
    """
    if value_to_date <= ZERO:
        return historic
    years = Decimal(max(tenure_days, rules.clv_min_tenure_days)) / Decimal(365)
    annual = value_to_date / years
    retention = ONE - max(rules.clv_base_annual_churn, churn_score)
    factor = ZERO
    for year in range(1, rules.clv_horizon_years + 1):
        factor += (retention**year) / ((ONE + rules.clv_discount_rate) ** year)
    return money(historic + annual * factor)


def value_tier(clv: Decimal, rules: AnalyticsRules) -> str:
    """bronze / silver / gold / platinum by historic CLV thresholds."""
    tiers = ((rules.tier_platinum_min, "platinum"), (rules.tier_gold_min, "gold"), (rules.tier_silver_min, "silver"))
    return _band(clv, tiers, "bronze")


# --- churn risk ----------------------------------------------------------------------------------


class ChurnInputs(NamedTuple):
    """What the churn risk looks at.

    A named tuple, like ``TraitInputs``: a fold builds one per fact, and a frozen dataclass's ``__init__``
    (one ``object.__setattr__`` per field) cost three times as much (profiled, issue 17). Hashable: the
    churn memo's key.
    """

    days_inactive: int
    complaints_recent: int
    last_nps_category: str | None
    overdue_open: int
    sla_breaches_recent: int
    orders: int
    returns: int


@dataclass(frozen=True, slots=True)
class ChurnRisk:
    score: Decimal
    band: str
    factors: dict[str, Decimal] = field(default_factory=dict)


def _ratio(value: int, full: int) -> Decimal:
    return min(Decimal(value) / Decimal(full), ONE) if value > 0 else ZERO


def churn_risk(inputs: ChurnInputs, rules: AnalyticsRules) -> ChurnRisk:
    """Weighted sum of normalised factors, clipped to 0-1; only non-zero factors are reported."""
    w = rules.churn_weights
    detractor = {"detractor": ONE, "passive": Decimal("0.25")}.get(inputs.last_nps_category or "", ZERO)
    raw = {
        "inactivity": w.inactivity * _ratio(inputs.days_inactive, rules.churn_inactivity_full_days),
        "complaints": w.complaints * _ratio(inputs.complaints_recent, rules.churn_complaints_full),
        "detractor": w.detractor * detractor,
        "overdue_payments": w.overdue_payments * _ratio(inputs.overdue_open, rules.churn_overdue_full),
        "sla_breaches": w.sla_breaches * _ratio(inputs.sla_breaches_recent, rules.churn_breaches_full),
        "returns": w.returns * (Decimal(inputs.returns) / Decimal(inputs.orders) if inputs.orders else ZERO),
    }
    factors = {name: value.quantize(SCORE) for name, value in raw.items() if value > 0}
    score = min(sum(raw.values(), ZERO), ONE).quantize(SCORE)
    return ChurnRisk(score, churn_band(score, rules), factors)


def churn_band(score: Decimal, rules: AnalyticsRules) -> str:
    return _band(score, ((rules.churn_band_high_min, "high"), (rules.churn_band_medium_min, "medium")), "low")


# --- lifecycle and segments ----------------------------------------------------------------------


class TraitInputs(NamedTuple):
    """Everything the stage and segment rules look at, as of the evaluation moment (see ``ChurnInputs``)."""

    status: str
    orders: int
    tenure_days: int
    days_since_last_order: int | None
    days_inactive: int
    clv_historic: Decimal
    total_margin: Decimal
    churn_score: Decimal
    complaints_in_window: int
    overdue_total: int
    average_days_late: Decimal | None
    orders_with_offer: int
    fraud_signals: int


def lifecycle_stage(t: TraitInputs, rules: AnalyticsRules) -> tuple[str, str]:
    """``(stage, rule)``: the first rule that matches, checked from dissolution down to discovery."""
    if t.status == "erased":
        return "dissolution", "dissolution.erased"
    if t.fraud_signals >= rules.fraud_min_invalid_redemptions:
        return "dissolution", "dissolution.fraud"
    if t.orders > 0 and t.days_inactive >= rules.dissolution_inactive_days:
        return "dissolution", "dissolution.inactive"
    if (
        t.orders >= rules.commitment_min_orders
        and t.tenure_days >= rules.commitment_min_tenure_days
        and t.days_since_last_order is not None
        and t.days_since_last_order <= rules.commitment_recent_days
    ):
        return "commitment", "commitment.repeat_recent"
    if t.orders >= rules.expansion_min_orders:
        return "expansion", "expansion.repeat_purchase"
    if t.orders >= 1:
        return "awareness", "awareness.first_purchase"
    return "discovery", "discovery.no_purchase"


def segments(t: TraitInputs, rules: AnalyticsRules) -> dict[str, str]:
    """Segment name → the rule id that put the customer in it (absent = not a member)."""
    found: dict[str, str] = {}
    if t.status == "erased":
        return found
    if t.clv_historic >= rules.high_value_min_clv:
        found["high_value"] = "high_value.clv"
    if (
        t.orders >= rules.loyal_min_orders
        and t.tenure_days >= rules.loyal_min_tenure_days
        and (t.churn_score < rules.churn_band_medium_min)
    ):
        found["loyal"] = "loyal.repeat_low_risk"
    if t.orders > 0 and t.churn_score >= rules.at_risk_min_score:
        found["at_risk"] = "at_risk.churn_score"
    if t.orders > 0 and (t.clv_historic < 0 or t.total_margin < 0):
        found["loss_making"] = "loss_making.negative_value"
    if t.complaints_in_window >= rules.serial_complainer_min_complaints:
        found["serial_complainer"] = "serial_complainer.complaints_in_window"
    if t.overdue_total >= rules.late_payer_min_overdue:
        found["late_payer"] = "late_payer.overdue_invoices"
    elif t.average_days_late is not None and t.average_days_late >= rules.late_payer_min_average_days_late:
        found["late_payer"] = "late_payer.average_days_late"
    if t.orders >= rules.deal_seeker_min_orders and (
        Decimal(t.orders_with_offer) / Decimal(t.orders) >= rules.deal_seeker_min_share
    ):
        found["deal_seeker"] = "deal_seeker.offer_share"
    if t.fraud_signals >= rules.fraud_min_invalid_redemptions:
        found["fraud_flagged"] = "fraud_flagged.invalid_redemptions"
    return found


# --- recommendations -----------------------------------------------------------------------------


def recommend(
    owned: Iterable[str], co_purchases: Mapping[str, Mapping[str, int]], limit: int
) -> list[dict[str, object]]:
    """Products bought together with what the customer owns, by co-purchase count, excluding owned.

    ``co_purchases[a][b]`` = number of customers who bought both ``a`` and ``b``. Ties break by sku
    so the answer is deterministic.
    """
    mine = set(owned)
    scores: dict[str, int] = {}
    because: dict[str, str] = {}
    for product in sorted(mine):
        for other, count in co_purchases.get(product, {}).items():
            if other in mine:
                continue
            if count > scores.get(other, 0):
                because[other] = product
            scores[other] = scores.get(other, 0) + count
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [{"sku": sku, "score": score, "because_of": because[sku]} for sku, score in ranked]
