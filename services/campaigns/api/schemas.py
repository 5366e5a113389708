"""Request and response models of the campaigns API (never database rows, never domain objects)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from services.campaigns.domain.definition import (
    ActionDocument,
    AudienceDocument,
    CapsDocument,
    DefinitionDocument,
    TriggerDocument,
)
from shared.contracts.campaigns import Channel, Objective, SurveyKind
from shared.web.types import Instant, NonNegativeMoneyText


class BudgetInput(BaseModel):
    """Total budget and cost per send per channel, as decimal strings ("500.00")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    total: NonNegativeMoneyText
    cost_per_send: dict[Channel, NonNegativeMoneyText] = Field(default_factory=dict)


class CampaignCreate(DefinitionDocument):
    """A new campaign (saved as a draft)."""

    budget: BudgetInput | None = None  # type: ignore[assignment]
    starts_at: Instant | None = None
    ends_at: Instant | None = None


_NOT_CLEARABLE = ("name", "objective", "trigger", "audience", "action", "caps", "control_group_pct")


class CampaignUpdate(BaseModel):
    """Fields to change on a draft or paused campaign; omitted fields keep their value.

    Only ``budget``, ``starts_at`` and ``ends_at`` can be cleared with ``null``; every other field is
    part of any campaign, so the document does not offer ``null`` for them and the server refuses it.
    """

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)] | SkipJsonSchema[None] = None
    objective: Objective | SkipJsonSchema[None] = None
    trigger: TriggerDocument | SkipJsonSchema[None] = None
    audience: AudienceDocument | SkipJsonSchema[None] = None
    action: ActionDocument | SkipJsonSchema[None] = None
    caps: CapsDocument | SkipJsonSchema[None] = None
    budget: BudgetInput | None = None
    control_group_pct: Annotated[int, Field(ge=0, le=50)] | SkipJsonSchema[None] = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None

    @field_validator(*_NOT_CLEARABLE)
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be cleared; omit the field to keep its value")
        return value


class CampaignRead(DefinitionDocument):
    """A campaign with its status and version."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    status: str
    version: int
    created_at: datetime
    updated_at: datetime


class CampaignPage(BaseModel):
    items: list[CampaignRead]
    next_cursor: str | None


class PerformanceRead(BaseModel):
    """How a campaign did: reach, suppressions by reason, control group, conversions, money."""

    campaign_id: str
    sent: int = Field(description="Customers the campaign reached (OfferSent, MessageSent or SurveySent).")
    suppressed: dict[str, int] = Field(description="Suppression reason → count (deferred ones included).")
    held_out: int = Field(description="Eligible customers deliberately held out in the control group.")
    redeemed: int = Field(description="Offers redeemed with a valid code (OfferRedeemed).")
    conversion_rate_treated: float | None = Field(
        description="Sent customers who ordered within the attribution window / sent; null when none sent.")
    conversion_rate_control: float | None = Field(
        description="Held-out customers who ordered within the attribution window / held out; null when none.")
    uplift: float | None = Field(
        description="conversion_rate_treated - conversion_rate_control (fractions, not percent points).")
    attributed_revenue: str = Field(description="Sum of the totals of orders that redeemed the campaign's codes.")
    attributed_margin: str = Field(description="Sum of the margins of those orders, where known.")
    cost: str = Field(description="What the sends cost (budget spent).")
    roi: float | None = Field(
        description="(attributed_margin - cost) / cost; revenue stands in for margin when no margin is known; "
                    "null when nothing was spent.")


class SurveyCreate(BaseModel):
    """Send a survey to a customer now."""

    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=100)
    kind: SurveyKind
    ticket_id: str | None = Field(default=None, max_length=100)


class SurveyRead(BaseModel):
    """A sent survey; ``response_token`` goes into the link the customer answers from."""

    id: str
    customer_id: str
    kind: SurveyKind
    ticket_id: str | None
    channel: str | None
    response_token: str
    expires_at: datetime
    status: str


class SurveyResponseCreate(BaseModel):
    """A customer's answer, from the survey link."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200)
    score: int
    comment: str | None = Field(default=None, max_length=2000)


class SurveyResponseRead(BaseModel):
    survey_id: str
    score: int
    nps_category: str | None
