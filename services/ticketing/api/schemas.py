"""Request and response models of the ticketing API (never database rows, never domain objects)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.web.types import Instant, texts_not_blank

Kind = Literal["complaint", "question", "incident", "request"]
Channel = Literal["phone", "email", "web", "chat", "social", "store"]
Priority = Literal["low", "normal", "high", "urgent"]
Status = Literal["open", "in_progress", "waiting_customer", "resolved", "reopened", "closed"]
AgentId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S+$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra=texts_not_blank)


class TicketCreate(_Body):
    """A new ticket; ``agent_id`` is the agent who took the contact (they own it from the start)."""

    customer_id: UUID
    kind: Kind
    channel: Channel
    subject: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=20_000)
    priority: Priority = "normal"
    category: str | None = Field(default=None, max_length=100)
    order_id: UUID | None = None
    agent_id: AgentId | None = None


class TicketAssign(_Body):
    agent_id: AgentId


class TicketTransfer(_Body):
    to_agent_id: AgentId
    reason: str = Field(min_length=1, max_length=50, description="One of the configured transfer reasons.")
    note: str | None = Field(default=None, max_length=2_000)


class CommentCreate(_Body):
    author_id: str | None = Field(default=None, min_length=1, max_length=100, description="Defaults to the caller.")
    body: str = Field(min_length=1, max_length=20_000)
    visibility: Literal["public", "internal"] = "public"


class ContactCreate(_Body):
    agent_id: str | None = Field(default=None, min_length=1, max_length=100, description="Defaults to the caller.")
    method: Literal["call", "email", "visit", "chat", "sms"]
    direction: Literal["inbound", "outbound"] = "outbound"
    summary: str | None = Field(default=None, max_length=5_000)


class Note(_Body):
    note: str | None = Field(default=None, max_length=2_000)


class TicketResolve(_Body):
    resolution: str = Field(min_length=1, max_length=5_000)
    root_cause: str | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="Required for complaints; one of the configured root causes.",
    )


class TicketReopen(_Body):
    reason: str | None = Field(default=None, max_length=2_000)


class TicketRead(BaseModel):
    """A ticket as the API shows it."""

    id: UUID
    customer_id: UUID
    kind: str
    channel: str
    status: str
    priority: str
    category: str | None
    order_id: UUID | None
    subject: str | None
    description: str | None
    owner_id: str | None
    opened_by: str | None
    transfer_count: int
    escalation_level: int
    reopen_count: int
    customer_verified: bool = Field(description="False while the customer is not yet known (ADR 0003).")
    customer_tier: str
    first_response_due: datetime
    resolution_due: datetime
    first_responded_at: datetime | None
    next_due_at: datetime | None = Field(description="When this ticket breaches next; null when it cannot.")
    breached: bool
    resolution: str | None
    root_cause: str | None
    opened_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    version: int


class HistoryEntry(BaseModel):
    version: int
    type: str
    at: datetime
    data: dict[str, Any]


class TicketDetail(TicketRead):
    history: list[HistoryEntry]


class TicketPage(BaseModel):
    items: list[TicketRead]
    next_cursor: str | None


class Targets(BaseModel):
    first_response_minutes: int = Field(gt=0, le=525_600)
    resolution_minutes: int = Field(gt=0, le=525_600)


def _tiers_schema(schema: dict[str, Any]) -> None:
    """``standard`` is required and names every priority; other tiers override some (JSON Schema says so)."""
    row = schema.get("additionalProperties", {})
    schema["properties"] = {"standard": {**row, "required": ["low", "normal", "high", "urgent"],
                                         "description": "Targets for every priority; other tiers fall back "
                                                        "to these."}}
    schema["required"] = ["standard"]


class SlaPolicyBody(_Body):
    """``{tier: {priority: targets}}``; ``standard`` must name every priority."""

    tiers: dict[str, dict[Priority, Targets]] = Field(json_schema_extra=_tiers_schema)

    @field_validator("tiers")
    @classmethod
    def _standard_is_complete(cls, value: dict[str, dict[str, Targets]]) -> dict[str, dict[str, Targets]]:
        missing = {"low", "normal", "high", "urgent"} - set(value.get("standard", {}))
        if missing:
            raise ValueError(f"the standard tier needs every priority; missing {sorted(missing)}")
        for rows in value.values():
            for targets in rows.values():
                if targets.first_response_minutes > targets.resolution_minutes:
                    raise ValueError("first_response_minutes cannot exceed resolution_minutes")
        return value


class SimulationRequest(_Body):
    policy: SlaPolicyBody
    opened_since: Instant | None = Field(default=None, description="Only tickets opened since then.")


class PriorityOutcome(BaseModel):
    priority: str
    tickets: int
    breached_tickets: int
    breach_rate: float
    first_response_breaches: int
    resolution_breaches: int
    mean_first_response_seconds: float | None
    median_first_response_seconds: float | None
    mean_resolve_seconds: float | None
    median_resolve_seconds: float | None


class SimulationRead(BaseModel):
    tickets: int
    breached_tickets: int
    breach_rate: float
    breaches: int
    escalations: int
    recorded_breaches: int
    by_priority: list[PriorityOutcome]


class TicketVocabulary(BaseModel):
    transfer_reasons: list[str]
    root_causes: list[str]
    reopen_window_days: int
    sla_policy: SlaPolicyBody
