"""Request and response models of the ticketing API (never database rows, never domain objects)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.contracts.ticketing import (
    CalendarException,
    CalendarHoliday,
    CalendarSpec,
    WeeklyHours,
    WorkingHours,
)
from shared.ics import MAX_HOLIDAYS
from shared.web.types import CalendarDate, Instant, texts_not_blank

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
    next_due_at: datetime | None = Field(
        description="When this ticket breaches next, in business time on its calendar; null when it cannot."
    )
    breached: bool
    resolution: str | None
    root_cause: str | None
    opened_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    version: int
    sla_calendar: str | None = Field(
        default=None, description="The business-hours calendar its due moments count on; null is 24/7."
    )


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


CALENDAR_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
CalendarName = Annotated[
    str, Field(pattern=CALENDAR_NAME_PATTERN, max_length=63, examples=["berlin-support"],
               description="A calendar's name: lowercase letters, digits, - and _.")
]
ClockText = Annotated[
    str, Field(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", examples=["09:00"],
               description="Wall-clock HH:MM in the calendar's time zone; 24:00 ends the day.")
]


class Shift(_Body):
    """Working time from ``start`` to ``end`` (exclusive); a day may have several (split shifts)."""

    start: ClockText
    end: ClockText


Shifts = Annotated[list[Shift], Field(max_length=24)]


class WeeklyHoursBody(_Body):
    """Working hours per weekday; a day left out or empty is closed."""

    monday: Shifts = Field(default_factory=list)
    tuesday: Shifts = Field(default_factory=list)
    wednesday: Shifts = Field(default_factory=list)
    thursday: Shifts = Field(default_factory=list)
    friday: Shifts = Field(default_factory=list)
    saturday: Shifts = Field(default_factory=list)
    sunday: Shifts = Field(default_factory=list)


class Holiday(_Body):
    date: CalendarDate
    name: str = Field(default="", max_length=200)


class DateException(_Body):
    """Other hours on one date (a half day, a special opening); no hours closes the date."""

    date: CalendarDate
    hours: Shifts = Field(default_factory=list)
    note: str | None = Field(default=None, max_length=500)


_EXAMPLE_CALENDAR: dict[str, Any] = {
    "time_zone": "Europe/Berlin",
    "weekly_hours": {day: [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]
                     for day in ("monday", "tuesday", "wednesday", "thursday", "friday")},
    "holidays": [{"date": "2026-12-25", "name": "Christmas Day"}],
    "exceptions": [{"date": "2026-12-24", "hours": [{"start": "09:00", "end": "12:00"}], "note": "Christmas Eve"}],
}


def _calendar_schema(schema: dict[str, Any]) -> None:
    texts_not_blank(schema)
    schema["examples"] = [_EXAMPLE_CALENDAR]


class CalendarBody(_Body):
    """A business-hours calendar: time zone, weekly hours, holidays and date exceptions."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra=_calendar_schema)

    time_zone: str = Field(min_length=1, max_length=64, examples=["Europe/Berlin"],
                           description="IANA time zone name (e.g. Europe/Berlin, America/New_York).")
    weekly_hours: WeeklyHoursBody
    holidays: list[Holiday] = Field(default_factory=list, max_length=MAX_HOLIDAYS)
    exceptions: list[DateException] = Field(default_factory=list, max_length=1_000)

    def to_spec(self) -> CalendarSpec:
        """The contract's definition (the events carry it whole)."""

        def shifts(rows: list[Shift]) -> list[WorkingHours]:
            return [WorkingHours(start=r.start, end=r.end) for r in rows]

        return CalendarSpec(
            time_zone=self.time_zone,
            weekly_hours=WeeklyHours(**{day: shifts(getattr(self.weekly_hours, day))
                                        for day in WeeklyHoursBody.model_fields}),
            holidays=[CalendarHoliday(date=h.date, name=h.name) for h in self.holidays],
            exceptions=[CalendarException(date=e.date, hours=shifts(e.hours), note=e.note) for e in self.exceptions],
        )


class CalendarRead(BaseModel):
    """A calendar as the API shows it; ``version`` is its ETag."""

    name: str
    time_zone: str
    weekly_hours: dict[str, list[dict[str, str]]]
    holidays: list[dict[str, Any]]
    exceptions: list[dict[str, Any]]
    tiers: list[str] = Field(description="The SLA tiers that count on this calendar.")
    version: int
    replanned_tickets: int | None = Field(
        default=None, description="After a change: how many open tickets got new due moments (TicketSlaReplanned)."
    )
    holidays_imported: int | None = Field(default=None, description="After an .ics import: holiday dates read.")


class CalendarPage(BaseModel):
    items: list[CalendarRead]


TierName = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,50}$")]


class TierCalendarsBody(_Body):
    """Which calendar each SLA tier counts on; null sets a tier back to 24/7; tiers not named keep theirs."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"tiers": {"standard": "berlin-support",
                                                                   "dedicated_assistance": None}}]},
    )

    tiers: dict[TierName, CalendarName | None] = Field(min_length=1, max_length=20)


class TierCalendarsRead(BaseModel):
    tiers: dict[str, str | None]
    version: int
    replanned_tickets: int | None = None


class SimulationRequest(_Body):
    policy: SlaPolicyBody
    opened_since: Instant | None = Field(default=None, description="Only tickets opened since then.")
    calendar: CalendarName | None = Field(
        default=None, description="Count every tier on this stored calendar (default: each tier's calendar in force)."
    )
    calendar_definition: CalendarBody | None = Field(
        default=None, description="Count every tier on this proposed, unsaved calendar."
    )

    @model_validator(mode="after")
    def _one_calendar(self) -> SimulationRequest:
        if self.calendar is not None and self.calendar_definition is not None:
            raise ValueError("give calendar or calendar_definition, not both")
        return self


class TicketVocabulary(BaseModel):
    transfer_reasons: list[str]
    root_causes: list[str]
    reopen_window_days: int
    sla_policy: SlaPolicyBody
    sla_calendars: dict[str, str | None] = Field(
        default_factory=dict, description="Each tier's business-hours calendar (null: 24/7)."
    )
