"""Response models of the analytics API (documentation of the shapes; queries build plain dicts)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from shared.contracts import CATALOG

SegmentName = Literal[
    "high_value",
    "loyal",
    "at_risk",
    "loss_making",
    "serial_complainer",
    "late_payer",
    "deal_seeker",
    "fraud_flagged",
]
StageName = Literal["discovery", "awareness", "expansion", "commitment", "dissolution"]
BandName = Literal["low", "medium", "high"]
SortName = Literal["-clv", "clv", "-last_event_at", "-churn_risk"]
PeriodName = Literal["day", "week", "month", "quarter", "year"]


class Customer360Read(BaseModel):
    """The 360 document (see docs/analytics-rules.md for every computed field)."""

    customer_id: str
    status: Literal["active", "merged", "erased"]
    merged_into: str | None = None
    profile: dict[str, Any]
    orders: dict[str, Any]
    payments: dict[str, Any]
    service: dict[str, Any]
    feedback: dict[str, Any]
    marketing: dict[str, Any]
    value: dict[str, Any]
    risk: dict[str, Any]
    lifecycle_stage: dict[str, Any] | None
    segments: list[dict[str, Any]]
    recommendations: list[dict[str, Any]]
    freshness: dict[str, Any]
    as_of: str | None = None


class TimelineItem(BaseModel):
    event_id: str
    type: str
    domain: str
    time: str
    customer_id: str = Field(description="The customer the event was published for (a merged duplicate's id).")
    correlation_id: str | None = None
    data: dict[str, Any]


class TimelinePage(BaseModel):
    items: list[TimelineItem]
    next_cursor: str | None


class CustomerListItem(BaseModel):
    customer_id: str
    status: str
    lifecycle_stage: str | None
    churn_band: str | None
    churn_risk: str | None
    value_tier: str | None
    clv: str
    segments: list[str]
    last_event_at: str | None


class CustomerListPage(BaseModel):
    items: list[CustomerListItem]
    next_cursor: str | None


_PUBLISHED_EVENT_TYPES = frozenset(model.event_type for model in CATALOG)


def _published_event_type(value: str) -> str:
    if value not in _PUBLISHED_EVENT_TYPES:
        raise ValueError(f"{value!r} is not a published event type (see the AsyncAPI document)")
    return value


EventTypeName = Annotated[
    str,
    AfterValidator(_published_event_type),
    WithJsonSchema({"type": "string", "enum": sorted(_PUBLISHED_EVENT_TYPES)}),
]
"""An event type of the contracts catalog (``OrderPlaced``): the timeline holds nothing else."""


class ReasonTerm(BaseModel):
    term: str = Field(description="A word or a two-word phrase of the reasons, lower case, stop words removed.")
    mentions: int = Field(description="How many reasons mention it (each reason counts a term once).")
    phrase: bool = Field(description="True for a two-word phrase.")


class ReasonGroup(BaseModel):
    answers: int = Field(description="Reasons given by customers in this NPS band (and still not erased).")
    top: list[ReasonTerm] = Field(description="The most mentioned terms, most first (ties alphabetical).")


class ReasonsByCategory(BaseModel):
    promoter: ReasonGroup
    passive: ReasonGroup
    detractor: ReasonGroup


class NpsBlock(BaseModel):
    nps: str | None = Field(description="% promoters - % detractors, one decimal; null without answers.")
    promoters: int
    passives: int
    detractors: int
    responses: int


class NpsReasonsPeriod(NpsBlock):
    period: str = Field(description="Start of the period (RFC 3339, UTC).")
    reasons: ReasonsByCategory


class NpsReasonsSegment(NpsBlock):
    segment: str
    reasons: ReasonsByCategory


_REASONS_EXAMPLE: dict[str, Any] = {
    "promoter": {"answers": 2, "top": [{"term": "fast", "mentions": 2, "phrase": False},
                                       {"term": "fast delivery", "mentions": 1, "phrase": True}]},
    "passive": {"answers": 0, "top": []},
    "detractor": {"answers": 1, "top": [{"term": "courier", "mentions": 1, "phrase": False}]},
}


class NpsReasonsRead(NpsBlock):
    """NPS for the range with the reasons grouped per band, per period and per (current) segment."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "from": "2026-01-01T00:00:00.000000Z", "to": "2026-04-01T00:00:00.000000Z", "period": "month",
        "segment": None, "nps": "33.3", "promoters": 2, "passives": 0, "detractors": 1, "responses": 3,
        "reasons": _REASONS_EXAMPLE,
        "by_period": [{"period": "2026-01-01T00:00:00.000000Z", "nps": "33.3", "promoters": 2, "passives": 0,
                       "detractors": 1, "responses": 3, "reasons": _REASONS_EXAMPLE}],
        "by_segment": [{"segment": "high_value", "nps": "100.0", "promoters": 1, "passives": 0, "detractors": 0,
                        "responses": 1, "reasons": {**_REASONS_EXAMPLE, "detractor": {"answers": 0, "top": []}}}],
    }]})

    from_: str = Field(alias="from")
    to: str
    period: PeriodName
    segment: SegmentName | None
    reasons: ReasonsByCategory
    by_period: list[NpsReasonsPeriod]
    by_segment: list[NpsReasonsSegment]
