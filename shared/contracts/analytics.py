"""Events published by the analytics service on ``analytics.events``.

These are *derived signals*: analytics folds every domain's events into the 360 view and, whenever a
customer's segment membership, lifecycle stage, churn band, value tier or recommended products
change, publishes exactly one event describing the change. The campaigns service triggers
event-based marketing on them.

Every event carries ``customer_id`` (also the CloudEvents subject and the Kafka key), the ``rule``
that decided (a stable identifier documented in ``docs/analytics-rules.md``), a human ``reason``
and ``provenance``: the ids of the domain events that drove the decision, so any signal can be
explained. ``decided_at`` is the event time of the fact that caused the change (or the sweep's clock
for time-based rules), not the wall-clock time of the projection, so a rebuild decides identically.
No personal data travels on this topic.

One operational event shares the topic: ``WebhookEndpointDisabled`` (docs/webhooks.md), keyed by the
webhook subscription's id instead of a customer id. Account managers' alerts (``AccountManagerAlertRaised``,
``AccountManagerAlertAcknowledged``, docs/analytics-rules.md#account-managers-alerts) are keyed by the
customer like the signals, so a downstream system (email, chat) can route them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.instants import Instant
from shared.events.catalog import DomainEvent, event

Segment = Literal[
    "high_value",
    "loyal",
    "at_risk",
    "loss_making",
    "serial_complainer",
    "late_payer",
    "deal_seeker",
    "fraud_flagged",
]
"""The customer segments analytics maintains (seed 003); rules in ``docs/analytics-rules.md``."""

LifecycleStage = Literal["discovery", "awareness", "expansion", "commitment", "dissolution"]
"""The relationship lifecycle stages of seed 002, in their natural order."""

ChurnBand = Literal["low", "medium", "high"]
"""Churn risk score bucketed by configurable thresholds."""

ValueTier = Literal["bronze", "silver", "gold", "platinum"]
"""Customer value tier from lifetime value thresholds."""


class _AnalyticsEvent(DomainEvent):
    domain = "analytics"

    customer_id: UUID = Field(description="The customer the signal is about (also the subject and key).")
    rule: str = Field(description="Identifier of the rule that decided, see docs/analytics-rules.md.")
    reason: str = Field(default="", description="Why, in words an agent or marketer understands.")
    provenance: list[UUID] = Field(
        default_factory=list, description="Ids of the domain events that drove this decision."
    )
    decided_at: Instant = Field(description="Event time of the deciding fact (or the sweep's clock).")


@event
class SegmentEntered(_AnalyticsEvent):
    """The customer now belongs to a segment (e.g. became ``at_risk`` or ``high_value``)."""

    event_type = "SegmentEntered"
    description = "A customer entered a segment."

    segment: Segment


@event
class SegmentExited(_AnalyticsEvent):
    """The customer no longer belongs to a segment; ``since`` is when they had entered it."""

    event_type = "SegmentExited"
    description = "A customer left a segment."

    segment: Segment
    since: Instant | None = None


@event
class LifecycleStageChanged(_AnalyticsEvent):
    """The customer moved between lifecycle stages (``from_stage`` is None on the first placement)."""

    event_type = "LifecycleStageChanged"
    description = "A customer's lifecycle stage changed."

    from_stage: LifecycleStage | None = None
    to_stage: LifecycleStage


@event
class ChurnRiskChanged(_AnalyticsEvent):
    """The customer's churn band changed; ``score`` is 0-1 with the factors that produced it."""

    event_type = "ChurnRiskChanged"
    description = "A customer's churn risk band changed."

    from_band: ChurnBand | None = None
    to_band: ChurnBand
    score: Decimal = Field(ge=0, le=1, max_digits=6, decimal_places=4)
    factors: dict[str, Decimal] = Field(default_factory=dict)


@event
class ValueTierChanged(_AnalyticsEvent):
    """The customer's value tier changed; ``clv`` is the lifetime value that placed them there."""

    event_type = "ValueTierChanged"
    description = "A customer's value tier changed."

    from_tier: ValueTier | None = None
    to_tier: ValueTier
    clv: Decimal = Field(max_digits=18, decimal_places=2)


class RecommendedProduct(BaseModel):
    """One recommended product: a sku the customer does not own, scored by co-purchases.

    Analytics models products by sku only (co-purchase counts are per sku), so no category travels.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: str
    score: int = Field(ge=1, description="Customers who bought it together with what this customer owns (summed).")
    because_of: str | None = Field(default=None, description="The owned sku that contributed most to the score.")


@event
class RecommendationsChanged(_AnalyticsEvent):
    """The customer's recommended products changed, best first (empty: nothing to recommend any more).

    Recomputed when the customer's own purchases change (an order placed or cancelled, a merge or an
    unmerge), from the co-purchases of all customers at that moment; ``previous_skus`` is the list
    published before. A campaign offers ``recommendations[0].sku`` or lets the engine pick the first
    recommended product without a live offer.
    """

    event_type = "RecommendationsChanged"
    description = "A customer's recommended products changed."

    recommendations: list[RecommendedProduct] = Field(
        default_factory=list, description="Best first, at most the rules' recommendations_limit."
    )
    previous_skus: list[str] = Field(default_factory=list, description="The skus published before, best first.")


AlertKind = Literal[
    "complaint", "sla_breach", "churn_risk_up", "detractor", "large_order", "high_value", "birthday", "anniversary",
    "replenishment",
]
"""Why an account manager was alerted (docs/analytics-rules.md#account-managers-alerts)."""


@event
class AccountManagerAlertRaised(_AnalyticsEvent):
    """Something significant happened to a customer with an account manager, who gets one alert for it.

    One per ``kind`` per customer within the rules' window; ``provenance`` names the events behind it
    (the domain events, or the signal and its own provenance). ``decided_at`` is the deciding fact's
    time (the sweep's clock for a special day); ``raised_at`` when the alert was raised. A special
    day's date is personal and stays in the alerts read model; the event only says which day it is.
    """

    event_type = "AccountManagerAlertRaised"
    description = "An account manager was alerted to something significant at one of their customers."

    alert_id: UUID = Field(description="The alert (acknowledged with POST /v1/alerts/{id}/acknowledge).")
    account_manager_id: str = Field(description="Employee id of the customer's account manager.")
    kind: AlertKind
    raised_at: Instant


@event
class AccountManagerAlertAcknowledged(DomainEvent):
    """The account manager (or a colleague with ``customers:write``) acknowledged an alert."""

    domain = "analytics"
    event_type = "AccountManagerAlertAcknowledged"
    description = "An account manager's alert was acknowledged."

    alert_id: UUID
    customer_id: UUID = Field(description="The customer the alert is about (also the subject and key).")
    account_manager_id: str
    kind: AlertKind
    acknowledged_by: str = Field(description="Who acknowledged it (the token's subject).")
    acknowledged_at: Instant


@event
class WebhookEndpointDisabled(DomainEvent):
    """Analytics stopped delivering to a webhook endpoint that kept failing (docs/webhooks.md).

    Not a customer signal: the subject and key are the subscription id. Its deliveries are kept
    (pending ones wait, nothing is dropped) until an operator re-enables the subscription with
    ``PATCH /v1/webhooks/subscriptions/{id}`` (``status: active``).
    """

    domain = "analytics"
    event_type = "WebhookEndpointDisabled"
    description = "A webhook subscription was disabled after repeated delivery failures."

    subscription_id: UUID = Field(description="The subscription disabled (also the subject and key).")
    url: str = Field(description="The endpoint URL that kept failing.")
    consecutive_failures: int = Field(ge=1, description="Failed attempts in a row when it was disabled.")
    last_status_code: int | None = Field(
        default=None, description="HTTP status of the last attempt; null for a timeout or a connection error."
    )
    last_error: str = Field(default="", description="What went wrong on the last attempt, in a few words.")
    disabled_at: Instant = Field(description="When delivery stopped.")


__all__ = [
    "AccountManagerAlertAcknowledged",
    "AccountManagerAlertRaised",
    "AlertKind",
    "ChurnBand",
    "ChurnRiskChanged",
    "LifecycleStage",
    "LifecycleStageChanged",
    "RecommendationsChanged",
    "RecommendedProduct",
    "Segment",
    "SegmentEntered",
    "SegmentExited",
    "ValueTier",
    "ValueTierChanged",
    "WebhookEndpointDisabled",
]
