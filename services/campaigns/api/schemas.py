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
from shared.contracts.campaigns import Channel, Objective, SurveyKind, SurveyPurpose, SurveyQuestion
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


QuestionId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", examples=["reason"])]


class SurveyCreate(BaseModel):
    """Send a survey to a customer now.

    Beyond the schema: a ``transactional`` survey names one ``ticket_id`` or one ``order_id`` (the resolved
    ticket or delivered order it asks about); a ``relationship`` survey names neither, and is refused
    with 409 while the customer has an open complaint or was sent a relationship survey within
    ``period_days``. Extra ``questions`` have ids of their own (not ``score`` or ``reason``); a choice
    question has 2 to 10 distinct options, a csat question none.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"customer_id": "7f8a2c4e-1b3d-4e5f-9a6b-0c1d2e3f4a5b", "kind": "nps", "purpose": "relationship",
             "period_days": 90,
             "questions": [{"id": "channel", "kind": "choice", "prompt": "How do you usually shop with us?",
                            "options": ["web", "app", "store"]}]},
            {"customer_id": "7f8a2c4e-1b3d-4e5f-9a6b-0c1d2e3f4a5b", "kind": "nps", "purpose": "transactional",
             "ticket_id": "0b9d6c1e-2f3a-4b5c-8d7e-6f5a4b3c2d1e"},
        ]},
    )

    customer_id: str = Field(min_length=1, max_length=100)
    kind: SurveyKind
    ticket_id: str | None = Field(default=None, min_length=1, max_length=100)
    purpose: SurveyPurpose | None = Field(
        default=None, description="relationship (at most once per period, never during an open complaint) or "
                                  "transactional (after a resolved ticket or a delivered order); none: neither rule.")
    order_id: str | None = Field(default=None, min_length=1, max_length=100,
                                 description="The delivered order a transactional survey asks about.")
    period_days: Annotated[int, Field(strict=True, ge=1, le=3650)] = Field(
        default=90, description="A relationship survey asks each customer at most once in this many days.")
    questions: list[SurveyQuestion] = Field(
        default_factory=list, max_length=3,
        description="Extra questions after the score and the reason: a csat score or a choice among options.")


class SurveyRead(BaseModel):
    """A sent survey; ``response_token`` goes into the link the customer answers from."""

    id: str
    customer_id: str
    kind: SurveyKind
    ticket_id: str | None
    order_id: str | None = None
    purpose: SurveyPurpose | None = None
    questions: list[SurveyQuestion] = Field(default_factory=list,
                                            description="In order: the score, the reason, then the extras.")
    channel: str | None
    response_token: str
    expires_at: datetime
    status: str


class AnswerInput(BaseModel):
    """The answer to one extra question: a ``score`` (csat 1-5) or a ``choice`` (one of its options)."""

    model_config = ConfigDict(extra="forbid")

    question_id: QuestionId
    score: Annotated[int, Field(strict=True, ge=0, le=10)] | None = None
    choice: str | None = Field(default=None, min_length=1, max_length=200)


class SurveyResponseCreate(BaseModel):
    """A customer's answer, from the survey link: the score, and maybe the reason and extra answers at once.

    ``reason`` answers "what is the main reason for your score?" (``comment`` is what older links send
    for it: give one of the two). Sealed under the customer's key; erased with them.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"token": "k3Jx...", "score": 6, "reason": "Delivery took two weeks and nobody told me why",
             "answers": [{"question_id": "channel", "choice": "web"}]},
            {"token": "k3Jx...", "score": 10},
        ]},
    )

    token: str = Field(min_length=1, max_length=200)
    score: int
    comment: str | None = Field(default=None, max_length=2000)
    reason: str | None = Field(default=None, max_length=2000)
    answers: list[AnswerInput] = Field(default_factory=list, max_length=3)


class SurveyResponseRead(BaseModel):
    survey_id: str
    score: int
    nps_category: str | None
    answered: list[str] = Field(default_factory=list, description="Questions answered so far.")
    remaining: list[str] = Field(default_factory=list, description="Questions still open, in order.")


class QuestionAnswerCreate(BaseModel):
    """One more answer after the score: the ``reason`` as ``text``, or an extra question's ``score``/``choice``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"token": "k3Jx...", "question_id": "reason", "text": "The agent solved it on the first call"},
            {"token": "k3Jx...", "question_id": "delivery", "score": 4},
        ]},
    )

    token: str = Field(min_length=1, max_length=200)
    question_id: QuestionId
    score: Annotated[int, Field(strict=True, ge=0, le=10)] | None = None
    choice: str | None = Field(default=None, min_length=1, max_length=200)
    text: str | None = Field(default=None, min_length=1, max_length=2000)


class QuestionAnswerRead(BaseModel):
    survey_id: str
    question_id: str
    answered: list[str]
    remaining: list[str]


class SurveyAnswerFact(BaseModel):
    question_id: str
    answered_at: datetime
    score: int | None
    choice: str | None
    text_sealed: bool = Field(description="A free-text answer: sealed in the event log, never shown here.")


class SurveyDetail(BaseModel):
    """A survey for staff: questions, status, what was answered (scores and choices; text stays sealed)."""

    id: str
    customer_id: str
    kind: SurveyKind
    purpose: SurveyPurpose | None
    ticket_id: str | None
    order_id: str | None
    campaign_id: str | None
    channel: str | None
    sent_at: datetime
    expires_at: datetime
    status: str
    score: int | None
    questions: list[SurveyQuestion]
    answers: list[SurveyAnswerFact]
