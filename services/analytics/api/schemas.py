"""Response models of the analytics API (documentation of the shapes; queries build plain dicts)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema

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
