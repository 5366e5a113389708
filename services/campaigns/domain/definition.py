"""The campaign definition as a document: the JSON a marketer sends and the event log stores.

The document is parsed into the domain's frozen ``CampaignDefinition`` in one place, so the API,
the engine (which rebuilds definitions from the read model) and the ready-made campaigns all agree
on what a definition means. Pydantic here is parsing, not I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.campaigns.domain.model import (
    Action,
    Audience,
    Budget,
    CampaignDefinition,
    OfferSpec,
    Schedule,
    Trigger,
    parse_delay,
)
from services.campaigns.domain.surveys import (
    DEFAULT_RELATIONSHIP_PERIOD,
    MAX_EXTRA_QUESTIONS,
    SurveyPlan,
    survey_questions,
)
from shared.contracts.campaigns import ActionKind, Channel, Objective, SurveyKind, SurveyPurpose, SurveyQuestion
from shared.errors import InvalidInput
from shared.events.catalog import Money


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TriggerDocument(_Strict):
    """An event type (optionally delayed, with a condition) or a schedule (birthday, inactivity)."""

    event_type: str | None = Field(default=None, examples=["OrderPlaced"])
    condition: str | None = Field(default=None, max_length=1000, examples=["event.total > 1000"])
    delay: str | None = Field(default=None, examples=["30 days after"])
    schedule: Schedule | None = None
    inactivity_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class AudienceDocument(_Strict):
    """Segments and lifecycle stages to include or exclude."""

    include_segments: list[str] = Field(default_factory=list)
    exclude_segments: list[str] = Field(default_factory=list)
    include_stages: list[str] = Field(default_factory=list)
    exclude_stages: list[str] = Field(default_factory=list)


class OfferDocument(_Strict):
    """The product or category (or the customer's recommendations), the discount and validity in days."""

    sku: str | None = None
    category: str | None = None
    from_recommendations: bool = Field(
        default=False,
        description="Offer each customer the first of their recommended products (from analytics) without a "
        "live offer, instead of a fixed sku or category.",
    )
    discount_pct: int = Field(default=0, ge=0, le=100)
    valid_days: int = Field(default=30, ge=1, le=365)


class SurveyPlanDocument(_Strict):
    """Why the survey asks (relationship or transactional), how often, and up to three extra questions."""

    purpose: SurveyPurpose | None = None
    period_days: int = Field(default=DEFAULT_RELATIONSHIP_PERIOD.days, ge=1, le=3650,
                             description="A relationship survey asks each customer at most once in this many days.")
    questions: list[SurveyQuestion] = Field(
        default_factory=list, max_length=MAX_EXTRA_QUESTIONS,
        description="Extra questions after the score and the reason: a csat score or a choice among options.",
    )


class ActionDocument(_Strict):
    """Offer, message or survey; channels in preference order; template."""

    kind: ActionKind
    channels: list[Channel] = Field(min_length=1)
    template: str = Field(min_length=1, max_length=200)
    offer: OfferDocument | None = None
    survey_kind: SurveyKind | None = None
    survey: SurveyPlanDocument | None = None


class CapsDocument(_Strict):
    """How often one customer may be reached by this campaign (default once)."""

    per_customer: int = Field(default=1, ge=1, le=1000)


class BudgetDocument(_Strict):
    """Total budget and cost per send per channel (decimal strings)."""

    total: Money = Field(ge=0)
    cost_per_send: dict[Channel, Money] = Field(default_factory=dict)


class DefinitionDocument(_Strict):
    """A whole campaign definition."""

    name: str = Field(min_length=1, max_length=200)
    objective: Objective
    trigger: TriggerDocument
    audience: AudienceDocument = Field(default_factory=AudienceDocument)
    action: ActionDocument
    caps: CapsDocument = Field(default_factory=CapsDocument)
    budget: BudgetDocument | None = None
    control_group_pct: int = Field(default=0, ge=0, le=50)
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    def to_definition(self) -> CampaignDefinition:
        """The domain's value object for this document."""
        offer = self.action.offer
        return CampaignDefinition(
            name=self.name,
            objective=self.objective,
            trigger=Trigger(
                event_type=self.trigger.event_type,
                condition=self.trigger.condition,
                delay=parse_delay(self.trigger.delay) if self.trigger.delay else None,
                schedule=self.trigger.schedule,
                inactivity_days=self.trigger.inactivity_days,
            ),
            audience=Audience(
                include_segments=frozenset(self.audience.include_segments),
                exclude_segments=frozenset(self.audience.exclude_segments),
                include_stages=frozenset(self.audience.include_stages),
                exclude_stages=frozenset(self.audience.exclude_stages),
            ),
            action=Action(
                kind=self.action.kind,
                channels=tuple(self.action.channels),
                template=self.action.template,
                offer=OfferSpec(offer.sku, offer.category, offer.discount_pct, offer.valid_days,
                                offer.from_recommendations) if offer else None,
                survey_kind=self.action.survey_kind,
                survey=_survey_plan(self.action),
            ),
            per_customer_cap=self.caps.per_customer,
            budget=Budget(self.budget.total, dict(self.budget.cost_per_send)) if self.budget else None,
            control_group_pct=self.control_group_pct,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
        )


def _survey_plan(action: ActionDocument) -> SurveyPlan | None:
    """The action's survey plan; its extra questions are checked against the survey kind here (422)."""
    plan = action.survey
    if plan is None:
        return None
    if action.survey_kind is not None:
        survey_questions(action.survey_kind, plan.questions, field_name="action.survey.questions")
    return SurveyPlan(purpose=plan.purpose, period=timedelta(days=plan.period_days),
                      extra_questions=tuple(plan.questions))


def parse_definition(raw: dict[str, Any]) -> tuple[DefinitionDocument, CampaignDefinition]:
    """Parse a stored or submitted definition; ``InvalidInput`` (422) when it does not fit."""
    try:
        document = DefinitionDocument.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        location = ".".join(str(part) for part in first["loc"])
        raise InvalidInput(f"{location}: {first['msg']}", field=location) from None
    return document, document.to_definition()


ZERO = Decimal("0.00")
