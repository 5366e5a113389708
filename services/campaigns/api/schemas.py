"""Request and response models of the campaigns API (never database rows, never domain objects)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.campaigns.domain.definition import (
    ActionDocument,
    AudienceDocument,
    BudgetDocument,
    CapsDocument,
    DefinitionDocument,
    TriggerDocument,
)
from shared.contracts.campaigns import Objective, SurveyKind


class CampaignCreate(DefinitionDocument):
    """A new campaign (saved as a draft)."""


class CampaignUpdate(BaseModel):
    """Fields to change on a draft or paused campaign; omitted fields keep their value."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    objective: Objective | None = None
    trigger: TriggerDocument | None = None
    audience: AudienceDocument | None = None
    action: ActionDocument | None = None
    caps: CapsDocument | None = None
    budget: BudgetDocument | None = None
    control_group_pct: int | None = Field(default=None, ge=0, le=50)
    starts_at: datetime | None = None
    ends_at: datetime | None = None


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
    sent: int
    suppressed: dict[str, int]
    held_out: int
    redeemed: int
    conversion_rate_treated: float | None
    conversion_rate_control: float | None
    uplift: float | None
    attributed_revenue: str
    attributed_margin: str
    cost: str
    roi: float | None


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
