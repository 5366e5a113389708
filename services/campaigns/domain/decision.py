"""The decision: should this campaign reach this customer now, for this triggering event, and how?

Pure: everything it needs arrives as arguments (the campaign, the customer's replica snapshot, the
counters the engine read under the campaign's budget lock, the policy and ``now``), so every rule is
a fast unit test and a replay decides identically.

Order of the rules, and why:

1. not running / outside the audience / condition false → not triggered at all (no event: these
   are not decisions about a customer, just campaigns that do not apply);
2. customer erased, merged away or unknown → ``customer_inactive``;
3. service-aware marketing: open complaint, recent SLA breach, recent detractor → promotions wait;
   a relationship survey waits for an open complaint and asks at most once per its period;
4. no consent on any allowed channel → ``no_consent``;
5. this campaign's per-customer cap, then the frequency caps of the marketing policy (every channel
   together, then per channel: a channel whose cap is reached is skipped for the next consented one;
   a campaign's override caps count as well);
6. channel integration: a live offer for the same product from any campaign → ``channel_conflict``;
   an offer from the customer's recommendations takes the first recommended product without a live
   offer (``no_recommendation`` when analytics recommends nothing, ``channel_conflict`` when every
   recommended product already has a live offer);
7. budget → ``budget_exhausted``;
8. control group → ``held_out`` (after every eligibility rule, so treated and control customers
   are comparable: both were eligible);
9. quiet hours or a send blackout (holiday) in the customer's time zone → deferred, decided again when
   the customer's next send window opens;
10. send on the first consented channel in preference order whose caps allow it.
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

from services.campaigns.domain.conditions import evaluate_condition
from services.campaigns.domain.model import CampaignDefinition, OfferSpec
from services.campaigns.domain.surveys import relationship_hold
from shared.contracts.campaigns import ActionKind, Channel, SuppressionReason, SurveyPurpose


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
    last_relationship_survey_at: datetime | None = None
    """When the customer was last sent a relationship survey (by any campaign or operator)."""
    service_followups: bool = True
    """False once the customer opted out of service follow-ups (``domain.service_messages``)."""

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
    recent_sends: tuple[tuple[Channel, datetime], ...] = ()
    """This customer's promotional sends (channel, when) within the longest window of the policy's ``caps``."""


@dataclass(frozen=True, slots=True)
class SendCap:
    """At most ``max_messages`` promotional messages in any ``window``, on ``channel`` (None: all together)."""

    max_messages: int
    window: timedelta
    channel: Channel | None = None

    def reached(self, sends: Sequence[tuple[Channel, datetime]], now: datetime) -> bool:
        since = now - self.window
        return sum(1 for channel, at in sends
                   if at > since and (self.channel is None or channel == self.channel)) >= self.max_messages

    def describe(self) -> str:
        what = f"{self.channel} messages" if self.channel else "messages"
        return f"{self.max_messages} {what} in {self.window.days} days reached"


@dataclass(frozen=True, slots=True)
class CampaignLimits:
    """A campaign's override: caps counted on top of the global ones, quiet hours covering the global ones."""

    caps: tuple[SendCap, ...] = ()
    quiet_hours: tuple[time, time] | None = None


@dataclass(frozen=True, slots=True)
class MarketingPolicy:
    """Platform-wide marketing rules: the deployment's defaults, then the current marketing policy version.

    ``frequency_cap`` over ``frequency_window`` counts every channel together (``Counters.
    marketing_sent_in_window``); ``caps`` are the policy's further caps (per channel, other windows),
    counted over ``Counters.recent_sends``. Quiet hours with ``start == end`` mean none.
    """

    frequency_cap: int | None = 3
    frequency_window: timedelta = timedelta(days=7)
    complaint_hold: bool = True
    sla_breach_hold: timedelta = timedelta(days=7)
    detractor_hold: timedelta = timedelta(days=30)
    quiet_hours_start: time = time(21, 0)
    quiet_hours_end: time = time(8, 0)
    default_timezone: str = "UTC"
    caps: tuple[SendCap, ...] = ()
    blackouts: frozenset[date] = frozenset()
    """Days (in the customer's time zone) on which nothing is sent."""
    overrides: Mapping[str, CampaignLimits] = field(default_factory=dict)
    version: int = 0
    """The marketing policy version (0: the deployment's defaults, before any change through the API)."""

    @property
    def lookback(self) -> timedelta:
        """How far back ``Counters.recent_sends`` must reach for every cap, overrides included."""
        windows = [c.window for c in self.caps]
        windows += [c.window for limits in self.overrides.values() for c in limits.caps]
        return max(windows, default=timedelta(0))

    def for_campaign(self, campaign_id: str) -> MarketingPolicy:
        """The policy one campaign decides with: its override's caps added, its quiet hours in force."""
        limits = self.overrides.get(campaign_id)
        if limits is None:
            return self
        start, end = limits.quiet_hours or (self.quiet_hours_start, self.quiet_hours_end)
        return replace(self, caps=self.caps + limits.caps, quiet_hours_start=start, quiet_hours_end=end)


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
    policy_version: int | None = None
    """The marketing policy version the decision used (set by the engine, recorded with the decision)."""

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


MAX_DEFERRAL_STEPS = 800
"""Bound on the walk to the next send window (the policy refuses blackout runs that long)."""


def next_send_window(now: datetime, timezone: str | None, policy: MarketingPolicy) -> tuple[datetime, str] | None:
    """When the customer's next send window opens and why it is closed now; None when it is open.

    Closed on a blackout day (in the customer's time zone) until the next day that is not one, and in
    quiet hours until they end; both can chain (a blackout ends at midnight, inside quiet hours).
    """
    try:
        zone = ZoneInfo(timezone or policy.default_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(policy.default_timezone)
    moment, why = now, ""
    for _ in range(MAX_DEFERRAL_STEPS):
        local = moment.astimezone(zone)
        if local.date() in policy.blackouts:
            why = why or f"send blackout on {local.date().isoformat()}"
            moment = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone).astimezone(now.tzinfo)
            continue
        quiet = quiet_hours_end(moment, timezone, policy)
        if quiet is None:
            break
        why = why or "quiet hours in the customer's time zone"
        moment = quiet
    return (moment, why) if moment != now else None


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
    """Decide for one campaign, one customer, one triggering event (the rules in the module docstring's order)."""
    if not _applies(campaign, customer, event, now, event_fields=event_fields, check_condition=check_condition):
        return NOT_TRIGGERED
    policy = policy.for_campaign(campaign_id)
    held = _held_back(campaign, customer, policy, now)
    if held is not None:
        return held
    channel = _channel(campaign, customer, counters, policy, now)
    if isinstance(channel, Decision):
        return channel
    offer = _offer(campaign, customer, counters)
    if isinstance(offer, Decision):
        return offer
    cost = _cost(campaign, channel)
    refused = _over_budget(campaign, counters, cost)
    if refused is not None:
        return refused
    if in_control_group(campaign_id, customer.customer_id, campaign.control_group_pct):
        return Decision(Outcome.HELD_OUT)
    deferred = _deferred(now, customer, policy)
    if deferred is not None:
        return deferred
    return Decision(Outcome.SENT, channel=channel, cost=cost, offer=offer,
                    budget_now_exhausted=_exhausts_budget(campaign, counters, cost))


def _suppressed(reason: SuppressionReason, detail: str, **extra: Any) -> Decision:
    return Decision(Outcome.SUPPRESSED, reason=reason, detail=detail, **extra)


def _applies(
    campaign: CampaignDefinition,
    customer: CustomerSnapshot,
    event: TriggeringEvent,
    now: datetime,
    *,
    event_fields: Collection[str],
    check_condition: bool,
) -> bool:
    """Rule 1: running, the customer in the audience (when known), the trigger's condition true."""
    if not campaign.runs_at(now):
        return False
    if customer.known and not campaign.audience.admits(customer.segments, customer.lifecycle_stage):
        return False
    return not check_condition or evaluate_condition(
        campaign.trigger.condition, event=event.data, customer=customer.profile(now), event_fields=event_fields
    )


def _held_back(
    campaign: CampaignDefinition, customer: CustomerSnapshot, policy: MarketingPolicy, now: datetime
) -> Decision | None:
    """Rules 2 and 3: whether this customer may be contacted by this campaign at all right now."""
    return (_customer_inactive(customer)
            or _service_recovery_hold(campaign, customer, policy, now)
            or _relationship_survey_hold(campaign, customer, now))


def _customer_inactive(customer: CustomerSnapshot) -> Decision | None:
    """Rule 2: nobody to reach once the customer is erased, merged away or unknown."""
    if customer.erased:
        why = "erased"
    elif customer.merged_into:
        why = f"merged into {customer.merged_into}"
    elif not customer.known:
        why = "unknown"
    else:
        return None
    return _suppressed(SuppressionReason.CUSTOMER_INACTIVE, f"customer is {why}")


def _service_recovery_hold(
    campaign: CampaignDefinition, customer: CustomerSnapshot, policy: MarketingPolicy, now: datetime
) -> Decision | None:
    """Rule 3: no promotion to a customer with an open complaint, a recent SLA breach or a recent detractor answer."""
    if not campaign.is_promotion:
        return None
    if policy.complaint_hold and customer.open_complaints > 0:
        return _suppressed(SuppressionReason.SERVICE_RECOVERY_HOLD, "customer has an open complaint")
    if customer.last_sla_breach_at and now - customer.last_sla_breach_at < policy.sla_breach_hold:
        return _suppressed(SuppressionReason.SERVICE_RECOVERY_HOLD, "SLA breached recently")
    if customer.last_detractor_at and now - customer.last_detractor_at < policy.detractor_hold:
        return _suppressed(SuppressionReason.SERVICE_RECOVERY_HOLD, "recent detractor answer")
    return None


def _relationship_survey_hold(
    campaign: CampaignDefinition, customer: CustomerSnapshot, now: datetime
) -> Decision | None:
    """Rule 3 for relationship surveys: they wait for an open complaint and ask at most once per period."""
    plan = campaign.action.survey if campaign.action.kind is ActionKind.SURVEY else None
    if plan is None or plan.purpose is not SurveyPurpose.RELATIONSHIP:
        return None
    held = relationship_hold(open_complaints=customer.open_complaints, period=plan.period, now=now,
                             last_asked_at=customer.last_relationship_survey_at)
    return _suppressed(*held) if held is not None else None


def _channel(
    campaign: CampaignDefinition, customer: CustomerSnapshot, counters: Counters, policy: MarketingPolicy,
    now: datetime,
) -> Channel | Decision:
    """Rules 4 and 5: the first consented channel the caps leave open, or why there is none."""
    consented = [c for c in campaign.action.channels if c in customer.consents]
    if not consented:
        allowed = ", ".join(campaign.action.channels)
        return _suppressed(SuppressionReason.NO_CONSENT, f"no consent on any of: {allowed}")
    if counters.reached_by_campaign >= campaign.per_customer_cap:
        return _suppressed(SuppressionReason.CAMPAIGN_CAP, f"cap of {campaign.per_customer_cap} reached")
    if not campaign.is_promotion:
        return consented[0]
    return _channel_under_frequency_caps(consented, counters, policy, now)


def _channel_under_frequency_caps(
    consented: Sequence[Channel], counters: Counters, policy: MarketingPolicy, now: datetime
) -> Channel | Decision:
    """Rule 5 for promotions: every channel together first, then each channel's cap skips that channel."""
    if policy.frequency_cap is not None and counters.marketing_sent_in_window >= policy.frequency_cap:
        days = policy.frequency_window.days
        return _suppressed(SuppressionReason.FREQUENCY_CAP, f"{policy.frequency_cap} messages in {days} days reached")
    return _channel_under_policy_caps(consented, counters, policy, now) if policy.caps else consented[0]


def _channel_under_policy_caps(
    consented: Sequence[Channel], counters: Counters, policy: MarketingPolicy, now: datetime
) -> Channel | Decision:
    """The policy's further caps: one over every channel refuses the send; a channel's own cap skips it."""
    reached = [cap for cap in policy.caps if cap.reached(counters.recent_sends, now)]
    overall = next((cap for cap in reached if cap.channel is None), None)
    if overall is not None:
        return _suppressed(SuppressionReason.FREQUENCY_CAP, overall.describe())
    closed = {cap.channel for cap in reached}
    open_channels = [c for c in consented if c not in closed]
    if not open_channels:
        return _suppressed(SuppressionReason.FREQUENCY_CAP, "; ".join(cap.describe() for cap in reached))
    return open_channels[0]


def _offer(campaign: CampaignDefinition, customer: CustomerSnapshot, counters: Counters) -> OfferSpec | Decision | None:
    """Rule 6: the offer to send (None for other actions), unless a live offer for the product conflicts."""
    offer = campaign.action.offer if campaign.action.kind is ActionKind.OFFER else None
    if offer is None:
        return None
    if offer.from_recommendations:
        return _recommended(offer, customer, counters)
    if offer.product_key in counters.live_offer_products:
        return _suppressed(SuppressionReason.CHANNEL_CONFLICT, f"a live offer for {offer.product_key} exists")
    return offer


def _recommended(offer: OfferSpec, customer: CustomerSnapshot, counters: Counters) -> OfferSpec | Decision:
    """Rule 6 for an offer from recommendations: the first recommended product without a live offer."""
    if not customer.recommended_skus:
        return _suppressed(SuppressionReason.NO_RECOMMENDATION, "analytics recommends nothing to this customer")
    picked = recommended_offer(offer, customer.recommended_skus, counters.live_offer_products)
    if picked is None:
        skus = ", ".join(customer.recommended_skus)
        return _suppressed(SuppressionReason.CHANNEL_CONFLICT, f"live offers for every recommended sku: {skus}")
    return picked


def _cost(campaign: CampaignDefinition, channel: Channel) -> Decimal:
    return campaign.budget.cost_on(channel) if campaign.budget else Decimal("0.00")


def _over_budget(campaign: CampaignDefinition, counters: Counters, cost: Decimal) -> Decision | None:
    """Rule 7: a send the budget cannot pay for is refused, and the budget is then exhausted."""
    budget = campaign.budget
    if budget is None or counters.budget_spent + cost <= budget.total:
        return None
    return _suppressed(SuppressionReason.BUDGET_EXHAUSTED, f"spent {counters.budget_spent} of {budget.total}",
                       budget_now_exhausted=True)


def _deferred(now: datetime, customer: CustomerSnapshot, policy: MarketingPolicy) -> Decision | None:
    """Rule 9: in quiet hours or on a blackout day, decide again when the customer's send window opens."""
    window = next_send_window(now, customer.timezone, policy)
    if window is None:
        return None
    deferred_until, why = window
    return _suppressed(SuppressionReason.QUIET_HOURS_DEFERRED, why, deferred_until=deferred_until)


def _exhausts_budget(campaign: CampaignDefinition, counters: Counters, cost: Decimal) -> bool:
    """Whether this send leaves too little for another one on the cheapest channel."""
    budget = campaign.budget
    if budget is None:
        return False
    remaining = budget.total - counters.budget_spent - cost
    return remaining < budget.cheapest(campaign.action.channels) or remaining <= 0
