"""Events published by the campaigns service on ``campaigns.events`` (and ``campaigns.messages``).

Two kinds of subject:

* campaign lifecycle events (``CampaignCreated`` .. ``CampaignBudgetExhausted``) are about a
  campaign: their Kafka key / ``ce_subject`` is the campaign id;
* every customer-level event (offers, messages, suppressions, control group, redemptions, surveys)
  carries ``customer_id`` and is keyed by it, so it stays ordered with that customer's other events;
* ``MarketingPolicyChanged`` is about the platform's marketing policy: keyed ``marketing-policy``.

``triggering_event_id`` is the ``ce_id`` of the event that caused a decision; with ``campaign_id`` and
``customer_id`` it identifies the decision, which the engine records exactly once.

``MessageRequested`` is the one model published on ``campaigns.messages``: the request a delivery
system (email, SMS, push sender) acts on. It is not stored in the event log.
"""

from __future__ import annotations

from datetime import date, time
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from shared.contracts.instants import Instant
from shared.events.catalog import CATALOG, DomainEvent, Money, Personal, event

DOMAIN = "campaigns"
MESSAGES_TOPIC = "campaigns.messages"


class Objective(StrEnum):
    """What a campaign is for."""

    ONBOARDING = "onboarding"
    UPSELL = "upsell"
    CROSS_SELL = "cross_sell"
    LOYALTY = "loyalty"
    RETENTION = "retention"
    WINBACK = "winback"
    SERVICE_RECOVERY = "service_recovery"
    SURVEY = "survey"


class Channel(StrEnum):
    """Outbound channels a delivery system serves."""

    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"


class ActionKind(StrEnum):
    """What a campaign does for a customer it reaches."""

    OFFER = "offer"
    MESSAGE = "message"
    SURVEY = "survey"


class SurveyKind(StrEnum):
    """NPS asks 0-10 (would you recommend us), CSAT asks 1-5 (how satisfied were you)."""

    NPS = "nps"
    CSAT = "csat"


class SurveyPurpose(StrEnum):
    """Why a customer is asked.

    * ``relationship``: how the customer feels about us overall; asked at most once per period (e.g.
      90 days) and never while a complaint of theirs is open.
    * ``transactional``: how one interaction went, right after it: a resolved ticket or a delivered order.
    """

    RELATIONSHIP = "relationship"
    TRANSACTIONAL = "transactional"


class QuestionKind(StrEnum):
    """What a survey question asks for: an NPS score (0-10), a CSAT score (1-5), free text, or one of options."""

    NPS = "nps"
    CSAT = "csat"
    TEXT = "text"
    CHOICE = "choice"


class SurveyQuestion(BaseModel):
    """One question of a survey, in the order the customer sees them.

    The first question is always the survey's score (id ``score``); the second, ``reason``, asks
    "what is the main reason for your score?" as free text. Further questions (a CSAT score or a choice
    among ``options``) are optional for the customer.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", examples=["score", "reason", "delivery"])
    kind: QuestionKind
    prompt: str = Field(min_length=1, max_length=300)
    options: list[str] = Field(default_factory=list, description="The choices of a choice question.")


class NpsCategory(StrEnum):
    """NPS bands: 9-10 promoter, 7-8 passive, 0-6 detractor."""

    PROMOTER = "promoter"
    PASSIVE = "passive"
    DETRACTOR = "detractor"


class SuppressionReason(StrEnum):
    """Why a campaign did not reach a customer it was triggered for.

    * ``no_consent``: the customer has consented to none of the campaign's channels.
    * ``campaign_cap``: this campaign already reached the customer as often as its cap allows.
    * ``frequency_cap``: the global cap of marketing messages per customer per window is reached.
    * ``channel_conflict``: the customer already holds a live offer for the same product
      (from any campaign, on any channel): never two offers for one product. An offer taken from
      the customer's recommendations skips recommended products with a live offer; this is the
      reason when every one of them has one.
    * ``budget_exhausted``: the campaign's budget cannot pay for another send.
    * ``customer_inactive``: the customer is erased, merged into another, or unknown.
    * ``service_recovery_hold``: an open complaint, a recent SLA breach or a recent detractor answer;
      promotions wait while service recovers.
    * ``quiet_hours_deferred``: inside quiet hours in the customer's time zone; the decision is
      deferred (``deferred_until``) and taken again then, not dropped.
    * ``no_recommendation``: the offer takes its product from the customer's recommendations, and
      analytics recommends nothing to this customer (yet).

    A customer outside the audience, or an event for which the condition is false, is not
    triggered at all: no decision, no event.
    """

    NO_CONSENT = "no_consent"
    CAMPAIGN_CAP = "campaign_cap"
    FREQUENCY_CAP = "frequency_cap"
    CHANNEL_CONFLICT = "channel_conflict"
    BUDGET_EXHAUSTED = "budget_exhausted"
    CUSTOMER_INACTIVE = "customer_inactive"
    SERVICE_RECOVERY_HOLD = "service_recovery_hold"
    QUIET_HOURS_DEFERRED = "quiet_hours_deferred"
    NO_RECOMMENDATION = "no_recommendation"


class InvalidRedemptionReason(StrEnum):
    """Why an order's offer code did not count as a redemption."""

    UNKNOWN_CODE = "unknown_code"
    EXPIRED = "expired"
    WRONG_CUSTOMER = "wrong_customer"
    ALREADY_REDEEMED = "already_redeemed"


class _CampaignsEvent(DomainEvent):
    domain: ClassVar[str] = DOMAIN


# --- campaign lifecycle (subject: campaign id) -------------------------------------------------


@event
class CampaignCreated(_CampaignsEvent):
    """A campaign definition was saved as a draft."""

    event_type: ClassVar[str] = "CampaignCreated"
    description: ClassVar[str] = "A campaign definition was saved (status draft)."

    campaign_id: str
    name: str
    objective: Objective
    trigger_event_type: str | None = None
    action_kind: ActionKind
    control_group_pct: int = Field(ge=0, le=50)
    budget_total: Money | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    definition: dict[str, object] = Field(default_factory=dict, description="The full definition as saved.")


@event
class CampaignUpdated(_CampaignsEvent):
    """A draft or paused campaign's definition changed."""

    event_type: ClassVar[str] = "CampaignUpdated"
    description: ClassVar[str] = "A draft or paused campaign's definition changed."

    campaign_id: str
    changed_fields: list[str]
    definition: dict[str, object] = Field(default_factory=dict)


@event
class CampaignActivated(_CampaignsEvent):
    """The campaign started reacting to events."""

    event_type: ClassVar[str] = "CampaignActivated"
    description: ClassVar[str] = "The campaign started reacting to events."

    campaign_id: str


@event
class CampaignPaused(_CampaignsEvent):
    """The campaign stopped reacting to events for now."""

    event_type: ClassVar[str] = "CampaignPaused"
    description: ClassVar[str] = "The campaign stopped reacting to events for now."

    campaign_id: str


@event
class CampaignCompleted(_CampaignsEvent):
    """The campaign ended for good."""

    event_type: ClassVar[str] = "CampaignCompleted"
    description: ClassVar[str] = "The campaign ended for good."

    campaign_id: str


@event
class CampaignBudgetExhausted(_CampaignsEvent):
    """The campaign's budget cannot pay for another send; no further sends happen."""

    event_type: ClassVar[str] = "CampaignBudgetExhausted"
    description: ClassVar[str] = "The campaign's budget cannot pay for another send."

    campaign_id: str
    budget_total: Money
    spent: Money


# --- the marketing policy (subject: ``marketing-policy``) -----------------------------------------

POLICY_SUBJECT = "marketing-policy"
"""The one stream, Kafka key and ``ce_subject`` of the marketing policy."""

_POLICY_VERSION_FIELD = Field(
    default=None, description="The marketing policy version the decision used (0: the deployment's defaults)."
)


class FrequencyCap(BaseModel):
    """At most ``max_messages`` promotional messages per customer in any ``window_days`` days, on one
    channel or (``channel`` null) on every channel together."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    channel: Channel | None = Field(default=None, description="The channel counted; null counts every channel.")
    max_messages: int = Field(description="Messages allowed in the window (0: none on this channel).")
    window_days: int = Field(description="The sliding window, in days.")


LocalTime = Annotated[time, WithJsonSchema({
    "type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$",
    "description": "A wall-clock time of day, HH:MM:SS, in the customer's own time zone (no offset)."})]
"""A time of day on the customer's clock: deliberately without an offset (21:00 is 21:00 wherever they live)."""


class QuietHours(BaseModel):
    """No message is sent between ``start`` and ``end``, in the customer's own time zone (spans midnight
    when ``start`` is later than ``end``); a decision inside them is deferred to ``end``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    start: LocalTime
    end: LocalTime


class SendBlackout(BaseModel):
    """A day (a holiday) on which no message is sent, in the customer's own time zone; a decision that
    day is deferred to the next day that is not a blackout (and outside quiet hours)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    day: date
    name: str | None = Field(default=None, description="What the day is, e.g. New Year's Day.")


class CampaignPolicyOverride(BaseModel):
    """Stricter rules for one campaign: caps on top of the global ones, and quiet hours that cover the
    global quiet hours. An override is never looser than the global policy."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    campaign_id: str
    caps: list[FrequencyCap] = Field(default_factory=list)
    quiet_hours: QuietHours | None = Field(default=None, description="Null: the global quiet hours.")


class MarketingPolicyRules(BaseModel):
    """The whole marketing policy: frequency caps, quiet hours, send blackouts, service-recovery holds
    and per-campaign overrides."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    caps: list[FrequencyCap] = Field(default_factory=list)
    quiet_hours: QuietHours | None = Field(default=None, description="Null: no quiet hours.")
    blackouts: list[SendBlackout] = Field(default_factory=list)
    complaint_hold: bool = Field(default=True, description="Promotions wait while a complaint is open.")
    sla_breach_hold_days: int = Field(default=7, description="Promotions wait this long after an SLA breach.")
    detractor_hold_days: int = Field(default=30, description="Promotions wait this long after a detractor answer.")
    overrides: list[CampaignPolicyOverride] = Field(default_factory=list)


@event
class MarketingPolicyChanged(_CampaignsEvent):
    """The marketing policy changed: who, when, what (the fields that changed) and the whole new policy."""

    event_type: ClassVar[str] = "MarketingPolicyChanged"
    description: ClassVar[str] = "The marketing policy was changed; carries the whole new policy and what changed."

    policy: MarketingPolicyRules
    changed: list[str] = Field(default_factory=list, description="Top-level policy fields that changed.")
    changed_by: str | None = Field(default=None, description="The token subject that made the change.")
    changed_at: Instant


# --- decisions about one customer (subject: customer id) ---------------------------------------


@event
class OfferSent(_CampaignsEvent):
    """An offer went to a customer on one channel, with a unique code."""

    event_type: ClassVar[str] = "OfferSent"
    description: ClassVar[str] = "An offer went to a customer on one channel, with a unique offer code."

    campaign_id: str
    customer_id: str
    message_id: str
    offer_code: str
    sku: str | None = None
    category: str | None = None
    discount_pct: Annotated[int, Field(ge=0, le=100)] | None = None
    channel: Channel
    template: str
    cost: Money
    valid_until: Instant
    triggering_event_id: str
    policy_version: int | None = _POLICY_VERSION_FIELD


@event
class MessageSent(_CampaignsEvent):
    """A (non-offer) message went to a customer on one channel."""

    event_type: ClassVar[str] = "MessageSent"
    description: ClassVar[str] = "A message without an offer (greeting, apology, survey invitation) was sent."

    campaign_id: str
    customer_id: str
    message_id: str
    channel: Channel
    template: str
    cost: Money
    triggering_event_id: str
    policy_version: int | None = _POLICY_VERSION_FIELD


# MessageSuppressed v1 as published, frozen: a new reason is a new version of the event, because a
# reader validating v1 must never meet a value it does not know. The docstrings are v1's schema text.
class SuppressionReasonV1(StrEnum):
    """Why a campaign did not reach a customer it was triggered for.

    * ``no_consent``: the customer has consented to none of the campaign's channels.
    * ``campaign_cap``: this campaign already reached the customer as often as its cap allows.
    * ``frequency_cap``: the global cap of marketing messages per customer per window is reached.
    * ``channel_conflict``: the customer already holds a live offer for the same product
      (from any campaign, on any channel): never two offers for one product.
    * ``budget_exhausted``: the campaign's budget cannot pay for another send.
    * ``customer_inactive``: the customer is erased, merged into another, or unknown.
    * ``service_recovery_hold``: an open complaint, a recent SLA breach or a recent detractor answer;
      promotions wait while service recovers.
    * ``quiet_hours_deferred``: inside quiet hours in the customer's time zone; the decision is
      deferred (``deferred_until``) and taken again then, not dropped.

    A customer outside the audience, or an event for which the condition is false, is not
    triggered at all: no decision, no event.
    """

    NO_CONSENT = "no_consent"
    CAMPAIGN_CAP = "campaign_cap"
    FREQUENCY_CAP = "frequency_cap"
    CHANNEL_CONFLICT = "channel_conflict"
    BUDGET_EXHAUSTED = "budget_exhausted"
    CUSTOMER_INACTIVE = "customer_inactive"
    SERVICE_RECOVERY_HOLD = "service_recovery_hold"
    QUIET_HOURS_DEFERRED = "quiet_hours_deferred"


@event
class MessageSuppressedV1(_CampaignsEvent):
    """A campaign was triggered for a customer but did not reach them, and why."""

    event_type: ClassVar[str] = "MessageSuppressed"
    event_version: ClassVar[int] = 1
    description: ClassVar[str] = "A triggered campaign did not reach the customer; reason says why."

    campaign_id: str
    customer_id: str
    reason: SuppressionReasonV1
    detail: str | None = None
    deferred_until: Instant | None = None
    triggering_event_id: str


@event
class MessageSuppressed(_CampaignsEvent):
    """A campaign was triggered for a customer but did not reach them, and why.

    v2 adds the reason ``no_recommendation``; nothing else changed, so v1 data reads as it is.
    """

    event_type: ClassVar[str] = "MessageSuppressed"
    event_version: ClassVar[int] = 2
    description: ClassVar[str] = "A triggered campaign did not reach the customer; reason says why."

    campaign_id: str
    customer_id: str
    reason: SuppressionReason
    detail: str | None = None
    deferred_until: Instant | None = None
    triggering_event_id: str
    policy_version: int | None = _POLICY_VERSION_FIELD


@CATALOG.upcaster("MessageSuppressed", 1)
def _message_suppressed_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Every v1 reason is a v2 reason."""
    return data


@event
class HeldOut(_CampaignsEvent):
    """The customer is in the campaign's control group and was deliberately not contacted."""

    event_type: ClassVar[str] = "HeldOut"
    description: ClassVar[str] = "The customer is in the campaign's control group (measures uplift)."

    campaign_id: str
    customer_id: str
    triggering_event_id: str
    policy_version: int | None = _POLICY_VERSION_FIELD


@event
class OfferRedeemed(_CampaignsEvent):
    """An order used a valid offer code of this customer."""

    event_type: ClassVar[str] = "OfferRedeemed"
    description: ClassVar[str] = "An order used a valid, unexpired offer code belonging to the customer."

    campaign_id: str
    customer_id: str
    offer_code: str
    order_id: str
    total: Money
    margin: Money | None = None


@event
class InvalidRedemption(_CampaignsEvent):
    """An order carried an offer code that does not count (unknown, expired, someone else's, reused)."""

    event_type: ClassVar[str] = "InvalidRedemption"
    description: ClassVar[str] = "An order carried an offer code that does not count as a redemption."

    customer_id: str
    offer_code: str
    order_id: str
    reason: InvalidRedemptionReason
    campaign_id: str | None = None


@event
class SurveySent(_CampaignsEvent):
    """An NPS or CSAT survey was sent to a customer."""

    event_type: ClassVar[str] = "SurveySent"
    description: ClassVar[str] = "An NPS (0-10) or CSAT (1-5) survey was sent to a customer."

    survey_id: str
    customer_id: str
    kind: SurveyKind
    ticket_id: str | None = None
    campaign_id: str | None = None
    channel: Channel | None = None
    expires_at: Instant
    triggering_event_id: str | None = None
    purpose: SurveyPurpose | None = Field(
        default=None, description="relationship or transactional; absent on surveys sent before purposes existed.")
    order_id: str | None = Field(default=None, description="The delivered order a transactional survey asks about.")
    questions: list[SurveyQuestion] = Field(
        default_factory=list,
        description="The questions in order (score, reason, optional extras); empty on surveys sent before "
                    "surveys had questions, which asked the score and an optional comment.")


@event
class SurveyAnswered(_CampaignsEvent):
    """A customer answered a survey."""

    event_type: ClassVar[str] = "SurveyAnswered"
    description: ClassVar[str] = "A customer answered a survey; NPS answers carry their category."

    survey_id: str
    customer_id: str
    kind: SurveyKind
    score: Annotated[int, Field(ge=0, le=10)]
    comment: Annotated[str | None, Personal(default=None)]
    nps_category: NpsCategory | None = None
    ticket_id: str | None = None
    campaign_id: str | None = None
    purpose: SurveyPurpose | None = None
    order_id: str | None = None


@event
class SurveyQuestionAnswered(_CampaignsEvent):
    """A customer answered one question of a survey (the score, the reason, a CSAT or choice question).

    Published beside ``SurveyAnswered``, which keeps announcing the score as before: a reader of
    ``SurveyAnswered`` is unaffected, a reader of this event sees every question, each once. ``text``
    (the free-text reason) is personal: sealed under the customer's key, ``None`` once they are
    erased. ``nps_category`` is the band of the survey's NPS score, so a reason can be grouped with it.
    """

    event_type: ClassVar[str] = "SurveyQuestionAnswered"
    description: ClassVar[str] = "A customer answered one question of a survey (score, reason or an extra question)."

    survey_id: str
    customer_id: str
    survey_kind: SurveyKind
    question_id: str
    question_kind: QuestionKind
    score: Annotated[int, Field(ge=0, le=10)] | None = None
    choice: str | None = None
    text: Annotated[str | None, Personal(default=None)]
    nps_category: NpsCategory | None = None
    purpose: SurveyPurpose | None = None
    ticket_id: str | None = None
    order_id: str | None = None
    campaign_id: str | None = None


# --- campaigns.messages -------------------------------------------------------------------------


@event
class MessageRequested(_CampaignsEvent):
    """Published on ``campaigns.messages`` (not ``campaigns.events``): a delivery system should send it.

    The delivery system looks up the customer's address itself; ``variables`` fill the template
    (offer code, discount, survey link, ...).
    """

    event_type: ClassVar[str] = "MessageRequested"
    description: ClassVar[str] = "Outbound message request on campaigns.messages for delivery systems."
    published_on: ClassVar[tuple[str, ...]] = (MESSAGES_TOPIC,)

    message_id: str
    customer_id: str
    campaign_id: str | None = None
    channel: Channel
    template: str
    kind: Literal["offer", "message", "survey"]
    variables: dict[str, str] = Field(default_factory=dict)
    purpose: Literal["promotion", "service"] = Field(
        default="promotion",
        description="service: a service follow-up (complaint resolved, order delivered, refund paid), sent without "
                    "campaign_id and outside promotional caps; promotion: what a campaign decided (absent before).",
    )


ServiceMessageKind = Literal["complaint_resolved", "order_delivered", "refund_paid"]
"""What a service follow-up tells the customer was done for them."""


@event
class ServiceMessageSent(_CampaignsEvent):
    """A service follow-up went to the customer (not a promotion): what was done for them, in plain words."""

    event_type: ClassVar[str] = "ServiceMessageSent"
    description: ClassVar[str] = (
        "A service follow-up (complaint resolved, order delivered, refund paid) was requested on a consented channel."
    )

    customer_id: str
    message_id: str
    kind: ServiceMessageKind
    channel: Channel
    template: str = Field(description="The template key, e.g. service.complaint_resolved.")
    text: str = Field(description="The plain-words message as rendered from the template (no personal free text).")
    triggering_event_id: str
    templates_version: int = Field(description="The service-message templates version used (0: the defaults).")
    deferred_from: Instant | None = Field(default=None,
                                          description="When it was first decided, if quiet hours deferred it.")


class ServiceMessageTemplate(BaseModel):
    """One service follow-up's wording: ``{placeholders}`` from the event, channels in preference order."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: ServiceMessageKind
    text: str
    channels: list[Channel]
    enabled: bool = True


@event
class ServiceMessageTemplatesChanged(_CampaignsEvent):
    """The service follow-up templates were replaced through the API (subject: ``service-message-templates``)."""

    event_type: ClassVar[str] = "ServiceMessageTemplatesChanged"
    description: ClassVar[str] = "The service follow-up message templates were replaced."

    version: int
    templates: list[ServiceMessageTemplate]
    changed_by: str | None = None
    changed_at: Instant


def nps_category(score: int) -> NpsCategory:
    """The NPS band of a 0-10 score."""
    if score >= 9:
        return NpsCategory.PROMOTER
    if score >= 7:
        return NpsCategory.PASSIVE
    return NpsCategory.DETRACTOR


__all__ = [
    "MESSAGES_TOPIC",
    "POLICY_SUBJECT",
    "ActionKind",
    "CampaignActivated",
    "CampaignBudgetExhausted",
    "CampaignCompleted",
    "CampaignCreated",
    "CampaignPaused",
    "CampaignPolicyOverride",
    "CampaignUpdated",
    "Channel",
    "FrequencyCap",
    "HeldOut",
    "InvalidRedemption",
    "InvalidRedemptionReason",
    "MarketingPolicyChanged",
    "MarketingPolicyRules",
    "MessageRequested",
    "MessageSent",
    "MessageSuppressed",
    "MessageSuppressedV1",
    "NpsCategory",
    "Objective",
    "OfferRedeemed",
    "OfferSent",
    "QuestionKind",
    "QuietHours",
    "SendBlackout",
    "ServiceMessageKind",
    "ServiceMessageSent",
    "ServiceMessageTemplate",
    "ServiceMessageTemplatesChanged",
    "SuppressionReason",
    "SuppressionReasonV1",
    "SurveyAnswered",
    "SurveyKind",
    "SurveyPurpose",
    "SurveyQuestion",
    "SurveyQuestionAnswered",
    "SurveySent",
    "nps_category",
]
