"""The decision: should this campaign reach this customer now, for this triggering event, and how?

Pure: everything it needs arrives as arguments (the campaign, the customer's replica snapshot, the
counters the engine read under the campaign's budget lock, the policy and ``now``), so every rule is
a fast unit test and a replay decides identically.

Order of the rules, and why:

1. not running / outside the audience / condition false → not triggered at all (no event: these
   are not decisions about a customer, just campaigns that do not apply);
2. customer erased, merged away or unknown → ``customer_inactive``;
3. service-aware marketing: open complaint, recent SLA breach, recent detractor → promotions wait;
4. no consent on any allowed channel → ``no_consent``;
5. this campaign's per-customer cap, then the global frequency cap;
6. channel integration: a live offer for the same product from any campaign → ``channel_conflict``;
   an offer from the customer's recommendations takes the first recommended product without a live
   offer (``no_recommendation`` when analytics recommends nothing, ``channel_conflict`` when every
   recommended product already has a live offer);
7. budget → ``budget_exhausted``;
8. control group → ``held_out`` (after every eligibility rule, so treated and control customers
   are comparable: both were eligible);
9. quiet hours in the customer's time zone → deferred, decided again when they end;
10. send on the first consented channel in preference order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.contracts.campaigns import ActionKind, Channel, SuppressionReason

from .conditions import evaluate_condition
from .model import CampaignDefinition, OfferSpec


@dataclass(frozen=True, slots=True)
class CustomerSnapshot:
    """The campaigns service's replica of one customer, as of the decision."""

    customer_id: str
    known: bool = True
    erased: bool = False
    merged_into: str | None = None
    consents: frozenset[Channel] = frozenset()
    orders_count: int = 0
    orders_total: Decimal = Decimal("0.00")
    last_order_total: Decimal | None = None
    last_order_at: datetime | None = None
    open_complaints: int = 0
    last_sla_breach_at: datetime | None = None
    last_detractor_at: datetime | None = None
    segments: frozenset[str] = frozenset()
    recommended_skus: tuple[str, ...] = ()
    """The customer's recommended products from analytics, best first."""
    lifecycle_stage: str | None = None
    churn_band: str | None = None
    value_tier: str | None = None
    relationship_type: str | None = None
    interests: tuple[str, ...] = ()
    birthday: date | None = None
    timezone: str | None = None

    def profile(self, now: datetime) -> dict[str, Any]:
        """The ``customer.*`` namespace conditions see."""
        return {
            "orders_count": self.orders_count,
            "orders_total": self.orders_total,
            "last_order_total": self.last_order_total,
            "days_since_last_order": (now - self.last_order_at).days if self.last_order_at else None,
            "open_complaints": self.open_complaints,
            "segments": sorted(self.segments),
            "lifecycle_stage": self.lifecycle_stage,
            "churn_band": self.churn_band,
            "value_tier": self.value_tier,
            "relationship_type": self.relationship_type,
            "consents": sorted(self.consents),
            "interests": list(self.interests),
            "timezone": self.timezone,
            "recommended_skus": list(self.recommended_skus),
        }


@dataclass(frozen=True, slots=True)
class Counters:
    """What the engine counted for this decision (under the campaign's budget lock)."""

    reached_by_campaign: int = 0
    """Sends and hold-outs of this campaign to this customer so far."""
    marketing_sent_in_window: int = 0
    """Promotional messages to this customer from any campaign within the frequency window."""
    live_offer_products: frozenset[str] = frozenset()
    """Product keys of this customer's unexpired, unredeemed offers (any campaign, any channel)."""
    budget_spent: Decimal = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class MarketingPolicy:
    """Platform-wide marketing rules (configurable per deployment)."""

    frequency_cap: int = 3
    frequency_window: timedelta = timedelta(days=7)
    complaint_hold: bool = True
    sla_breach_hold: timedelta = timedelta(days=7)
    detractor_hold: timedelta = timedelta(days=30)
    quiet_hours_start: time = time(21, 0)
    quiet_hours_end: time = time(8, 0)
    default_timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class TriggeringEvent:
    """The event that triggered the campaign (``event_id`` is its ``ce_id``)."""

    event_id: str
    event_type: str
    data: Mapping[str, Any] = field(default_factory=dict)


class Outcome(StrEnum):
    NOT_TRIGGERED = "not_triggered"
    SUPPRESSED = "suppressed"
    HELD_OUT = "held_out"
    SENT = "sent"


@dataclass(frozen=True, slots=True)
class Decision:
    """The result: not triggered, suppressed (with reason), held out, or send on ``channel`` at ``cost``."""

    outcome: Outcome
    reason: SuppressionReason | None = None
    detail: str | None = None
    channel: Channel | None = None
    cost: Decimal = Decimal("0.00")
    offer: OfferSpec | None = None
    """What a sent offer offers: the campaign's, or with the sku picked from the recommendations."""
    deferred_until: datetime | None = None
    budget_now_exhausted: bool = False
    """True when this decision is the one that finds the budget empty (after a send or a refusal)."""

    @property
    def is_recorded(self) -> bool:
        return self.outcome is not Outcome.NOT_TRIGGERED


NOT_TRIGGERED = Decision(Outcome.NOT_TRIGGERED)


def in_control_group(campaign_id: str, customer_id: str, pct: int) -> bool:
    """Deterministic: the same customer is always in (or out of) a campaign's control group.

    A hash of both ids spreads customers uniformly over 10,000 buckets; the first ``pct`` percent are
    the control group. Deterministic so redelivery, a restart or a second trigger never moves a
    customer between groups (which would spoil the uplift measurement).
    """
    if pct <= 0:
        return False
    digest = hashlib.sha256(f"{campaign_id}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < pct * 100


def offer_code_for(campaign_id: str, customer_id: str, triggering_event_id: str) -> str:
    """A unique, unguessable-enough offer code, stable for one decision (redelivery gives the same code)."""
    digest = hashlib.sha256(f"{campaign_id}:{customer_id}:{triggering_event_id}".encode()).hexdigest()
    return f"C360-{digest[:12].upper()}"


def recommended_offer(offer: OfferSpec, recommended: Sequence[str], live: Collection[str]) -> OfferSpec | None:
    """The offer of the first recommended sku without a live offer (channel integration); None if none is left."""
    for sku in recommended:
        candidate = replace(offer, sku=sku, category=None)
        if candidate.product_key not in live:
            return candidate
    return None


def quiet_hours_end(now: datetime, timezone: str | None, policy: MarketingPolicy) -> datetime | None:
    """When quiet hours end, if ``now`` is inside them in the customer's time zone; else None."""
    try:
        zone = ZoneInfo(timezone or policy.default_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(policy.default_timezone)
    local = now.astimezone(zone)
    start, end = policy.quiet_hours_start, policy.quiet_hours_end
    clock = local.time()
    if start == end:
        return None
    if start < end:
        inside = start <= clock < end
        end_day = local.date()
    else:  # spans midnight, e.g. 21:00-08:00
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return None
    return datetime.combine(end_day, end, tzinfo=zone).astimezone(now.tzinfo)


def decide(
    *,
    campaign_id: str,
    campaign: CampaignDefinition,
    customer: CustomerSnapshot,
    event: TriggeringEvent,
    counters: Counters,
    policy: MarketingPolicy,
    now: datetime,
    event_fields: Collection[str] = (),
    check_condition: bool = True,
) -> Decision:
    """Decide for one campaign, one customer, one triggering event (see the module docstring)."""
    if not campaign.runs_at(now):
        return NOT_TRIGGERED
    if customer.known and not campaign.audience.admits(customer.segments, customer.lifecycle_stage):
        return NOT_TRIGGERED
    if check_condition and not evaluate_condition(
        campaign.trigger.condition, event=event.data, customer=customer.profile(now), event_fields=event_fields
    ):
        return NOT_TRIGGERED

    def suppressed(reason: SuppressionReason, detail: str, **extra: Any) -> Decision:
        return Decision(Outcome.SUPPRESSED, reason=reason, detail=detail, **extra)

    if not customer.known or customer.erased or customer.merged_into:
        why = "unknown"
        if customer.erased:
            why = "erased"
        elif customer.merged_into:
            why = f"merged into {customer.merged_into}"
        return suppressed(SuppressionReason.CUSTOMER_INACTIVE, f"customer is {why}")

    if campaign.is_promotion:
        if policy.complaint_hold and customer.open_complaints > 0:
            return suppressed(SuppressionReason.SERVICE_RECOVERY_HOLD, "customer has an open complaint")
        if customer.last_sla_breach_at and now - customer.last_sla_breach_at < policy.sla_breach_hold:
            return suppressed(SuppressionReason.SERVICE_RECOVERY_HOLD, "SLA breached recently")
        if customer.last_detractor_at and now - customer.last_detractor_at < policy.detractor_hold:
            return suppressed(SuppressionReason.SERVICE_RECOVERY_HOLD, "recent detractor answer")

    channel = next((c for c in campaign.action.channels if c in customer.consents), None)
    if channel is None:
        allowed = ", ".join(campaign.action.channels)
        return suppressed(SuppressionReason.NO_CONSENT, f"no consent on any of: {allowed}")

    if counters.reached_by_campaign >= campaign.per_customer_cap:
        return suppressed(SuppressionReason.CAMPAIGN_CAP, f"cap of {campaign.per_customer_cap} reached")
    if campaign.is_promotion and counters.marketing_sent_in_window >= policy.frequency_cap:
        days = policy.frequency_window.days
        return suppressed(SuppressionReason.FREQUENCY_CAP, f"{policy.frequency_cap} messages in {days} days reached")

    offer = campaign.action.offer if campaign.action.kind is ActionKind.OFFER else None
    if offer is not None and offer.from_recommendations:
        if not customer.recommended_skus:
            return suppressed(SuppressionReason.NO_RECOMMENDATION, "analytics recommends nothing to this customer")
        picked = recommended_offer(offer, customer.recommended_skus, counters.live_offer_products)
        if picked is None:
            skus = ", ".join(customer.recommended_skus)
            return suppressed(SuppressionReason.CHANNEL_CONFLICT, f"live offers for every recommended sku: {skus}")
        offer = picked
    elif offer is not None and offer.product_key in counters.live_offer_products:
        return suppressed(SuppressionReason.CHANNEL_CONFLICT, f"a live offer for {offer.product_key} exists")

    budget = campaign.budget
    cost = budget.cost_on(channel) if budget else Decimal("0.00")
    if budget is not None and counters.budget_spent + cost > budget.total:
        return suppressed(SuppressionReason.BUDGET_EXHAUSTED, f"spent {counters.budget_spent} of {budget.total}",
                          budget_now_exhausted=True)

    if in_control_group(campaign_id, customer.customer_id, campaign.control_group_pct):
        return Decision(Outcome.HELD_OUT)

    deferred = quiet_hours_end(now, customer.timezone, policy)
    if deferred is not None:
        return suppressed(SuppressionReason.QUIET_HOURS_DEFERRED, "quiet hours in the customer's time zone",
                          deferred_until=deferred)

    exhausted_after = False
    if budget is not None:
        remaining = budget.total - counters.budget_spent - cost
        exhausted_after = remaining < budget.cheapest(campaign.action.channels) or remaining <= 0
    return Decision(Outcome.SENT, channel=channel, cost=cost, offer=offer, budget_now_exhausted=exhausted_after)
