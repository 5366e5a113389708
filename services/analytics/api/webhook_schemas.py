"""Request and response models of the webhook routes (``/v1/webhooks/...``, docs/webhooks.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from services.analytics.application.webhooks import known_event_types
from services.analytics.domain.webhooks import ALL_TYPES, MAX_CONDITIONS, MAX_URL_LENGTH, OPERATORS
from shared.web.types import Instant

if TYPE_CHECKING:
    EventTypeChoice = str
    OperatorName = str
else:
    EventTypeChoice = Literal[tuple(sorted([ALL_TYPES, *known_event_types()]))]
    """Any published event type, or ``*`` for all of them (an enum in the OpenAPI document)."""
    OperatorName = Literal[OPERATORS]
StrictBool = Annotated[bool, Strict()]
FieldPath = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$",
                                 description="A dotted path into the event's data, e.g. `total` or `address.city`.")]
Url = Annotated[str, Field(min_length=10, max_length=MAX_URL_LENGTH, pattern=r"^https?://[^\s/?#@]+",
                           description="http(s) URL without credentials. Outside local/test environments it may "
                                       "not name (or resolve to) a loopback, private, link-local or reserved "
                                       "address (SSRF).",
                           examples=["https://crm.example.com/hooks/customer360"])]
Description = Annotated[str, Field(max_length=500, pattern=r"^[^\x00]*$")]


class ConditionIn(BaseModel):
    """One filter condition; every condition of a subscription must hold for an event to be sent."""

    model_config = ConfigDict(extra="forbid")

    field: FieldPath
    op: OperatorName = Field(description="eq, ne, in, not_in (a list), gt/gte/lt/lte (numbers, money strings "
                                         "or RFC 3339 instants), exists (true/false), contains (list item or "
                                         "substring).")
    value: Any = Field(default=None, description="What to compare with (a list for in / not_in).")


Filter = Annotated[list[ConditionIn], Field(max_length=MAX_CONDITIONS)]
EventTypes = Annotated[list[EventTypeChoice], Field(min_length=1, max_length=100)]


class SubscriptionCreate(BaseModel):
    """A new subscription: where to send, which events, and whether personal data may be sent."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "url": "https://crm.example.com/hooks/customer360",
        "event_types": ["OrderPlaced", "ComplaintFiled"],
        "filter": [{"field": "total", "op": "gte", "value": "100.00"}],
        "personal_data": False,
        "description": "CRM: big orders and complaints",
    }]})

    url: Url
    event_types: EventTypes
    filter: Filter = Field(default_factory=list)
    personal_data: StrictBool = Field(
        default=False, description="Send personal fields (names, emails, ...). Without it they arrive as null.")
    description: Description = ""


class SubscriptionUpdate(BaseModel):
    """Fields to change; ``status: active`` re-enables a disabled endpoint, ``disabled`` pauses it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"status": "active"}]})

    url: Url | None = None
    event_types: EventTypes | None = None
    filter: Filter | None = None
    personal_data: StrictBool | None = None
    description: Description | None = None
    status: Literal["active", "disabled"] | None = None


class SubscriptionRead(BaseModel):
    id: str
    url: str
    description: str
    event_types: list[str]
    filter: list[dict[str, Any]]
    personal_data: bool
    status: Literal["active", "disabled"]
    version: int
    consecutive_failures: int
    disabled_at: str | None
    disabled_reason: str | None
    previous_secret_valid_until: str | None
    created_at: str
    updated_at: str


class SubscriptionWithSecret(SubscriptionRead):
    secret: str = Field(description="`whsec_` + base64: shown in this answer only; store it to verify signatures.")


class SubscriptionPage(BaseModel):
    items: list[SubscriptionRead]
    next_cursor: str | None


class AttemptRead(BaseModel):
    attempt: int
    attempted_at: str
    status_code: int | None
    latency_ms: float
    error: str | None


class DeliveryRead(BaseModel):
    id: str = Field(description="The `webhook-id` header: the same on every attempt, for the receiver to deduplicate.")
    event_id: str
    event_type: str
    event_time: str
    customer_key: str = Field(description="The event's subject; deliveries of one key are sent in order.")
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: str | None
    created_at: str
    delivered_at: str | None
    dead_at: str | None
    replay_id: str | None
    attempt_log: list[AttemptRead]
    payload: dict[str, Any] | None = None


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    next_cursor: str | None


class ReplayCreate(BaseModel):
    """Replay every wanted event that happened at or after ``since`` (read again from the topics)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"since": "2026-05-01T00:00:00Z"}]})

    since: Instant = Field(description="RFC 3339 instant with an offset, not in the future.")


class ReplayRead(BaseModel):
    id: str
    subscription_id: str
    since: str
    status: Literal["queued", "running", "done", "failed"]
    events_read: int
    events_matched: int
    error: str | None
    requested_at: str
    finished_at: str | None


class ReplayPage(BaseModel):
    items: list[ReplayRead]


class Requeued(BaseModel):
    requeued: int = Field(description="Dead-lettered deliveries put back in line.")
