"""Response models of the analytics API (documentation of the shapes; queries build plain dicts)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from services.analytics.domain.rules import AlertKindName
from shared.contracts import CATALOG
from shared.contracts.analytics import ChurnBand, LifecycleStage, Segment

SegmentName = Segment
StageName = LifecycleStage
BandName = ChurnBand
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


AlertStateName = Literal["open", "acknowledged", "all"]

_ALERT_EXAMPLE: dict[str, Any] = {
    "id": "5f0c8a7e-3b1d-4c2a-9e6f-1a2b3c4d5e6f", "customer_id": "0b6f5c1e-7d2a-4f3b-8c9d-0e1f2a3b4c5d",
    "account_manager_id": "am-ayse", "kind": "large_order", "rule": "alert.large_order",
    "reason": "An order of 4500.00 is 4.5x their average of 1000.00 over 3 orders.",
    "provenance": ["9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"], "decided_at": "2026-03-02T10:15:00.000000Z",
    "raised_at": "2026-03-02T10:15:01.250000Z", "due_on": None, "state": "open", "acknowledged_at": None,
    "acknowledged_by": None,
}


class AlertRead(BaseModel):
    """An account manager's alert: why (kind, rule, reason), the events behind it, and its state."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ALERT_EXAMPLE]})

    id: str
    customer_id: str
    account_manager_id: str
    kind: AlertKindName
    rule: str
    reason: str
    provenance: list[str] = Field(description="Ids of the events behind the alert (a signal first, then its own).")
    decided_at: str = Field(description="Time of the deciding fact (the sweep's clock for a special day).")
    raised_at: str
    due_on: str | None = Field(description="The special day (birthday, anniversary); null for other kinds "
                                           "and after an erasure.")
    state: Literal["open", "acknowledged"]
    acknowledged_at: str | None
    acknowledged_by: str | None


class AlertPage(BaseModel):
    """Alerts newest first; ``next_cursor`` continues the list (null on the last page)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_ALERT_EXAMPLE], "next_cursor": None}]})

    items: list[AlertRead]
    next_cursor: str | None


class AlertCounts(BaseModel):
    raised: int
    acknowledged: int
    median_hours_to_acknowledge: float | None
    mean_hours_to_acknowledge: float | None


class AlertCountsPerManager(AlertCounts):
    account_manager_id: str


class AlertKpisRead(AlertCounts):
    """Alerts raised in ``[from, to)``: how many, acknowledged, hours to acknowledge, per account manager."""

    model_config = ConfigDict(populate_by_name=True, json_schema_extra={"examples": [{
        "from": "2026-03-01T00:00:00.000000Z", "to": "2026-04-01T00:00:00.000000Z", "raised": 12,
        "acknowledged": 9, "median_hours_to_acknowledge": 3.5, "mean_hours_to_acknowledge": 6.25,
        "by_account_manager": [{"account_manager_id": "am-ayse", "raised": 12, "acknowledged": 9,
                                "median_hours_to_acknowledge": 3.5, "mean_hours_to_acknowledge": 6.25}],
    }]})

    from_: str = Field(alias="from")
    to: str
    by_account_manager: list[AlertCountsPerManager]
