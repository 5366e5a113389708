"""Every threshold and weight the analytics rules use, in one validated, configurable object.

Why one object: the rules are business policy, not code. Marketing tunes "high value" and the churn
weights per market; ``docs/analytics-rules.md`` documents each knob by the names used here. The
defaults are the documented ones; ``ANALYTICS_RULES_FILE`` (YAML, any subset of these fields, read by
``adapters/rules_file.py``) changes them per deployment. The same object drives the live projection,
time travel, the sweep and the rebuild, so they can never disagree.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ChurnWeights(BaseModel):
    """Weight of each churn factor; each factor is first normalised to 0-1, the sum is clipped to 1."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inactivity: Decimal = Decimal("0.35")
    complaints: Decimal = Decimal("0.20")
    detractor: Decimal = Decimal("0.20")
    overdue_payments: Decimal = Decimal("0.10")
    sla_breaches: Decimal = Decimal("0.10")
    returns: Decimal = Decimal("0.05")


AlertKindName = Literal[
    "complaint", "sla_breach", "churn_risk_up", "detractor", "large_order", "high_value", "birthday", "anniversary",
    "replenishment",
]
"""Reasons an account manager is alerted (``shared.contracts.analytics.AlertKind``, docs/analytics-rules.md)."""

ALERT_KINDS: tuple[AlertKindName, ...] = (
    "complaint", "sla_breach", "churn_risk_up", "detractor", "large_order", "high_value", "birthday", "anniversary",
    "replenishment",
)


class AlertRules(BaseModel):
    """Alerts for account managers on their customers (issue 21.2/21.4): which are on, thresholds, window."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: tuple[AlertKindName, ...] = ALERT_KINDS
    """The alert kinds raised; leave one out to switch it off."""
    window_days: int = Field(default=7, ge=1, le=366)
    """At most one alert per kind per customer within this many days (by the deciding facts' times)."""
    large_order_multiple: Decimal = Field(default=Decimal("3"), gt=1)
    """An order is "far above their usual size" at this multiple of the customer's average earlier order."""
    large_order_min_previous: int = Field(default=2, ge=1)
    """Earlier orders needed before an average means anything."""
    churn_min_band: Literal["medium", "high"] = "medium"
    """A churn band rising to at least this band alerts (low → medium and medium → high by default)."""
    special_day_days_before: int = Field(default=7, ge=0, le=60)
    """Birthday and anniversary reminders are raised this many days before the day (0: on the day)."""
    replenishment_min_purchases: int = Field(default=3, ge=2)
    """A product bought at least this many times has a rhythm (the mean interval between the purchases)."""
    replenishment_overdue_factor: Decimal = Field(default=Decimal("1.5"), gt=1)
    """A regular purchase is overdue once this many mean intervals have passed since the last one."""


class AnalyticsRules(BaseModel):
    """The policy behind NPS, CLV, churn risk, lifecycle stages, segments and value tiers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # NPS (seed 001)
    nps_promoter_min: int = Field(default=9, ge=0, le=10)
    nps_passive_min: int = Field(default=7, ge=0, le=10)

    # churn risk
    churn_weights: ChurnWeights = ChurnWeights()
    churn_inactivity_full_days: int = Field(default=180, ge=1)
    churn_complaints_full: int = Field(default=3, ge=1)
    churn_overdue_full: int = Field(default=2, ge=1)
    churn_breaches_full: int = Field(default=2, ge=1)
    churn_band_medium_min: Decimal = Decimal("0.35")
    churn_band_high_min: Decimal = Decimal("0.65")

    # CLV
    clv_base_annual_churn: Decimal = Decimal("0.10")
    clv_discount_rate: Decimal = Decimal("0.08")
    clv_horizon_years: int = Field(default=3, ge=1, le=30)
    clv_min_tenure_days: int = Field(default=90, ge=1)

    # value tiers: the lowest CLV that reaches each tier ("bronze" below silver)
    tier_silver_min: Decimal = Decimal("500")
    tier_gold_min: Decimal = Decimal("2000")
    tier_platinum_min: Decimal = Decimal("10000")

    # lifecycle stages (seed 002)
    expansion_min_orders: int = Field(default=2, ge=1)
    commitment_min_orders: int = Field(default=4, ge=1)
    commitment_min_tenure_days: int = Field(default=180, ge=0)
    commitment_recent_days: int = Field(default=180, ge=1)
    dissolution_inactive_days: int = Field(default=365, ge=1)

    # segments (seed 003)
    high_value_min_clv: Decimal = Decimal("5000")
    loyal_min_orders: int = Field(default=5, ge=1)
    loyal_min_tenure_days: int = Field(default=365, ge=0)
    at_risk_min_score: Decimal = Decimal("0.50")
    serial_complainer_window_days: int = Field(default=90, ge=1)
    serial_complainer_min_complaints: int = Field(default=3, ge=1)
    late_payer_min_overdue: int = Field(default=2, ge=1)
    late_payer_min_average_days_late: int = Field(default=15, ge=1)
    deal_seeker_min_orders: int = Field(default=3, ge=1)
    deal_seeker_min_share: Decimal = Decimal("0.70")
    fraud_min_invalid_redemptions: int = Field(default=2, ge=1)
    """Offer codes of other customers or reused codes that flag an account for fraud review."""

    # KPIs and the 360 document
    complaints_recent_days: int = Field(default=90, ge=1)
    recommendations_limit: int = Field(default=5, ge=0, le=50)
    provenance_limit: int = Field(default=10, ge=1, le=100)
    """How many driving event ids each trait keeps (the most recent ones)."""

    # account managers' alerts (issue 21.2, 21.4)
    alerts: AlertRules = AlertRules()

    @model_validator(mode="after")
    def _ordered_thresholds(self) -> AnalyticsRules:
        if not self.nps_passive_min < self.nps_promoter_min:
            raise ValueError("nps_passive_min must be below nps_promoter_min")
        if not Decimal(0) < self.churn_band_medium_min < self.churn_band_high_min <= Decimal(1):
            raise ValueError("churn bands must satisfy 0 < medium < high <= 1")
        if not self.tier_silver_min < self.tier_gold_min < self.tier_platinum_min:
            raise ValueError("value tier thresholds must increase")
        if not self.expansion_min_orders <= self.commitment_min_orders:
            raise ValueError("commitment needs at least as many orders as expansion")
        return self

    @classmethod
    def from_overrides(cls, overrides: Any, *, source: str) -> AnalyticsRules:
        """The defaults overridden by ``overrides`` (rule names to values, as read from ``source``)."""
        if not isinstance(overrides, dict):
            raise ValueError(f"{source}: expected a mapping of rule names to values")
        return cls.model_validate(overrides)


DEFAULT_RULES = AnalyticsRules()
