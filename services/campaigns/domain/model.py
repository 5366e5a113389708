"""Campaigns as aggregates: a definition (what triggers it, who, what, how often, at what cost) and a status.

A campaign is edited only while ``draft`` or ``paused``: once active, what a customer received must
be explainable by one definition. Status moves draft → active ⇄ paused → completed; completed is
final.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from services.campaigns.domain.conditions import ConditionError, validate_condition
from services.campaigns.domain.surveys import SurveyPlan, check_plan
from shared.contracts.campaigns import (
    ActionKind,
    CampaignActivated,
    CampaignCompleted,
    CampaignCreated,
    CampaignPaused,
    CampaignUpdated,
    Channel,
    Objective,
    SurveyKind,
    SurveyPurpose,
)
from shared.errors import Conflict, InvalidInput
from shared.store.aggregate import Aggregate


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"


class Schedule(StrEnum):
    """Triggers that are not an event: the engine's daily sweep finds the customers."""

    BIRTHDAY = "birthday"
    INACTIVITY = "inactivity"
    RELATIONSHIP_SURVEY = "relationship_survey"
    """Every customer due a relationship survey (not asked within its period, no open complaint)."""


_DURATION = re.compile(r"^\s*(\d+)\s*(minute|hour|day|week)s?(\s+after)?\s*$", re.IGNORECASE)
_UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1),
          "week": timedelta(weeks=1)}


def parse_delay(text: str) -> timedelta:
    """``"30 days"`` / ``"30 days after"`` / ``"2 hours"`` → a timedelta; InvalidInput otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise InvalidInput(f"delay {text!r} must read like '30 days', '2 hours' or '45 minutes after'",
                           field="trigger.delay")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


@dataclass(frozen=True, slots=True)
class Trigger:
    """What starts the campaign for a customer: an event (maybe delayed) or a schedule.

    No defaults: the one place that builds it (``DefinitionDocument.to_definition``) names every field, so a
    field added to the trigger document and forgotten there is a type error rather than a silent None.
    """

    event_type: str | None
    condition: str | None
    delay: timedelta | None
    schedule: Schedule | None
    inactivity_days: int | None


@dataclass(frozen=True, slots=True)
class Audience:
    """Segments and lifecycle stages to include (any of) or exclude (none of); empty includes all."""

    include_segments: frozenset[str] = frozenset()
    exclude_segments: frozenset[str] = frozenset()
    include_stages: frozenset[str] = frozenset()
    exclude_stages: frozenset[str] = frozenset()

    def admits(self, segments: frozenset[str], stage: str | None) -> bool:
        if self.include_segments and not (self.include_segments & segments):
            return False
        if self.exclude_segments & segments:
            return False
        if self.include_stages and stage not in self.include_stages:
            return False
        return not (stage is not None and stage in self.exclude_stages)


@dataclass(frozen=True, slots=True)
class OfferSpec:
    """The product (sku) or category on offer, the discount and how long the code stays valid.

    ``from_recommendations``: the product is not fixed by the campaign; the engine takes, per
    customer, the first of their recommended skus (from analytics) without a live offer.
    """

    sku: str | None = None
    category: str | None = None
    discount_pct: int = 0
    valid_days: int = 30
    from_recommendations: bool = False

    @property
    def product_key(self) -> str:
        """What "the same product" means for channel integration: the sku, else the category."""
        return f"sku:{self.sku}" if self.sku else f"category:{self.category}"


@dataclass(frozen=True, slots=True)
class Action:
    """What the customer gets, over which channels in preference order, with which template."""

    kind: ActionKind
    channels: tuple[Channel, ...]
    template: str
    offer: OfferSpec | None = None
    survey_kind: SurveyKind | None = None
    survey: SurveyPlan | None = None
    """Purpose, period and extra questions of a survey action (None: a survey without a purpose)."""


@dataclass(frozen=True, slots=True)
class Budget:
    """Total money the campaign may spend and the cost of one send per channel."""

    total: Decimal
    cost_per_send: Mapping[Channel, Decimal] = field(default_factory=dict)

    def cost_on(self, channel: Channel) -> Decimal:
        return self.cost_per_send.get(channel, Decimal("0.00"))

    def cheapest(self, channels: Sequence[Channel]) -> Decimal:
        return min((self.cost_on(c) for c in channels), default=Decimal("0.00"))


@dataclass(frozen=True, slots=True)
class CampaignDefinition:
    """Everything a marketer decides about a campaign."""

    name: str
    objective: Objective
    trigger: Trigger
    action: Action
    audience: Audience = Audience()
    per_customer_cap: int = 1
    budget: Budget | None = None
    control_group_pct: int = 0
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    @property
    def is_promotion(self) -> bool:
        """Promotions wait while service recovers; service recovery and surveys go through."""
        return self.objective not in (Objective.SERVICE_RECOVERY, Objective.SURVEY)

    def validate(self, *, event_fields: Mapping[str, frozenset[str]]) -> None:
        """Raise ``InvalidInput`` for a definition that could never run correctly.

        ``event_fields`` maps each known event type to its field names (from the contracts catalog).
        """
        _check_trigger(self.trigger, event_fields)
        _check_action(self.action)
        self._validate_survey()
        self._check_limits()

    def _validate_survey(self) -> None:
        """A survey plan belongs to a survey action; relationship sweeps send relationship surveys only."""
        plan = self.action.survey
        if plan is not None:
            if self.action.kind is not ActionKind.SURVEY:
                raise InvalidInput("only a survey action has a survey plan", field="action.survey")
            check_plan(plan, trigger_event_type=self.trigger.event_type)
        if self.trigger.schedule is Schedule.RELATIONSHIP_SURVEY and (
            plan is None or plan.purpose is not SurveyPurpose.RELATIONSHIP
        ):
            raise InvalidInput("a relationship_survey schedule sends a survey with purpose relationship",
                               field="action.survey.purpose")

    def _check_limits(self) -> None:
        """Control group, per-customer cap, dates and budget: each within what the engine can honour."""
        if not 0 <= self.control_group_pct <= 50:
            raise InvalidInput("control_group_pct must be between 0 and 50", field="control_group_pct")
        if self.per_customer_cap < 1:
            raise InvalidInput("caps.per_customer must be at least 1", field="caps.per_customer")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise InvalidInput("ends_at must be after starts_at", field="ends_at")
        if self.budget is not None and (
            self.budget.total < 0 or any(v < 0 for v in self.budget.cost_per_send.values())
        ):
            raise InvalidInput("budget amounts cannot be negative", field="budget")

    def runs_at(self, moment: datetime) -> bool:
        """Inside the campaign's start/end dates."""
        if self.starts_at and moment < self.starts_at:
            return False
        return not (self.ends_at and moment >= self.ends_at)


def _check_trigger(trigger: Trigger, event_fields: Mapping[str, frozenset[str]]) -> None:
    """An event or a schedule (not both), a known event type, and a condition over that event's fields."""
    _check_trigger_kind(trigger)
    fields: frozenset[str] = frozenset()
    if trigger.event_type is not None:
        if trigger.event_type not in event_fields:
            raise InvalidInput(f"unknown event type {trigger.event_type!r}", field="trigger.event_type")
        fields = event_fields[trigger.event_type]
    if trigger.condition:
        try:
            validate_condition(trigger.condition, event_fields=fields)
        except ConditionError as exc:
            raise InvalidInput(
                f"condition: {exc}", field="trigger.condition", line=exc.line, column=exc.column
            ) from None


def _check_trigger_kind(trigger: Trigger) -> None:
    """Exactly one of event type and schedule; an inactivity schedule says after how many days."""
    if trigger.schedule is None and trigger.event_type is None:
        raise InvalidInput("a trigger needs an event_type or a schedule", field="trigger")
    if trigger.schedule is not None and trigger.event_type is not None:
        raise InvalidInput("a trigger has an event_type or a schedule, not both", field="trigger")
    if trigger.schedule is Schedule.INACTIVITY and not trigger.inactivity_days:
        raise InvalidInput("an inactivity trigger needs inactivity_days", field="trigger.inactivity_days")


def _check_action(action: Action) -> None:
    """At least one channel, an offer that names its product (or takes it from recommendations), a survey kind."""
    if not action.channels:
        raise InvalidInput("an action needs at least one channel", field="action.channels")
    _check_offer(action)
    if action.kind is ActionKind.SURVEY and action.survey_kind is None:
        raise InvalidInput("a survey action needs survey_kind (nps or csat)", field="action.survey_kind")


def _check_offer(action: Action) -> None:
    """Only an offer takes its product from the recommendations, and then names none itself."""
    offer = action.offer
    if offer is not None and offer.from_recommendations:
        if action.kind is not ActionKind.OFFER:
            raise InvalidInput("only an offer action can take its product from the recommendations",
                               field="action.offer.from_recommendations")
        if offer.sku or offer.category:
            raise InvalidInput("an offer from the recommendations takes its sku from them: give no sku or "
                               "category", field="action.offer.from_recommendations")
    elif action.kind is ActionKind.OFFER and (offer is None or not (offer.sku or offer.category)):
        raise InvalidInput("an offer needs a sku or a category (or from_recommendations)", field="action.offer")


def campaign_stream(campaign_id: str) -> str:
    """The event stream of one campaign."""
    return f"campaign-{campaign_id}"


class Campaign(Aggregate):
    """A campaign definition and its status."""

    id: str
    definition: CampaignDefinition | None
    status: CampaignStatus

    def _initial_state(self) -> None:
        self.id = ""
        self.definition = None
        self.status = CampaignStatus.DRAFT
        self.raw_definition: dict[str, Any] = {}

    @classmethod
    def create(
        cls,
        campaign_id: str,
        definition: CampaignDefinition,
        raw_definition: dict[str, Any],
        *,
        event_fields: Mapping[str, frozenset[str]],
    ) -> Campaign:
        """Validate and save a new draft campaign."""
        definition.validate(event_fields=event_fields)
        campaign = cls()
        campaign.definition = definition
        campaign._record(
            CampaignCreated(
                campaign_id=campaign_id,
                name=definition.name,
                objective=definition.objective,
                trigger_event_type=definition.trigger.event_type,
                action_kind=definition.action.kind,
                control_group_pct=definition.control_group_pct,
                budget_total=definition.budget.total if definition.budget else None,
                starts_at=definition.starts_at,
                ends_at=definition.ends_at,
                definition=raw_definition,
            )
        )
        return campaign

    def update(
        self,
        definition: CampaignDefinition,
        raw_definition: dict[str, Any],
        changed_fields: list[str],
        *,
        event_fields: Mapping[str, frozenset[str]],
    ) -> None:
        """Change the definition; only a draft or paused campaign may change."""
        if self.status not in (CampaignStatus.DRAFT, CampaignStatus.PAUSED):
            raise Conflict(f"a {self.status} campaign cannot be edited; pause it first",
                           current_status=str(self.status))
        definition.validate(event_fields=event_fields)
        self.definition = definition
        self._record(CampaignUpdated(campaign_id=self.id, changed_fields=changed_fields, definition=raw_definition))

    def activate(self) -> None:
        """Start reacting to events (from draft or paused)."""
        if self.status is CampaignStatus.ACTIVE:
            return
        if self.status is CampaignStatus.COMPLETED:
            raise Conflict("a completed campaign cannot be activated", current_status=str(self.status))
        self._record(CampaignActivated(campaign_id=self.id))

    def pause(self) -> None:
        """Stop reacting for now."""
        if self.status is CampaignStatus.PAUSED:
            return
        if self.status is not CampaignStatus.ACTIVE:
            raise Conflict(f"only an active campaign can be paused, this one is {self.status}",
                           current_status=str(self.status))
        self._record(CampaignPaused(campaign_id=self.id))

    def complete(self) -> None:
        """End the campaign for good."""
        if self.status is CampaignStatus.COMPLETED:
            return
        self._record(CampaignCompleted(campaign_id=self.id))

    def _on_CampaignCreated(self, event: CampaignCreated) -> None:  # noqa: N802 - named after the event
        self.id = event.campaign_id
        self.raw_definition = dict(event.definition)
        self.status = CampaignStatus.DRAFT

    def _on_CampaignUpdated(self, event: CampaignUpdated) -> None:  # noqa: N802
        self.raw_definition = dict(event.definition)

    def _on_CampaignActivated(self, event: CampaignActivated) -> None:  # noqa: N802
        self.status = CampaignStatus.ACTIVE

    def _on_CampaignPaused(self, event: CampaignPaused) -> None:  # noqa: N802
        self.status = CampaignStatus.PAUSED

    def _on_CampaignCompleted(self, event: CampaignCompleted) -> None:  # noqa: N802
        self.status = CampaignStatus.COMPLETED


__all__ = [
    "Action",
    "Audience",
    "Budget",
    "Campaign",
    "CampaignDefinition",
    "CampaignStatus",
    "OfferSpec",
    "Schedule",
    "Trigger",
    "parse_delay",
]
