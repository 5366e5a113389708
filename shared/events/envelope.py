"""CloudEvents 1.0 in Kafka binary mode: the one codec for every producer and consumer.

In binary mode the event's attributes travel as Kafka headers (``ce_id``, ``ce_type``, ...) and the
record value is the event's data as JSON. Subscribers can route and filter on headers without
parsing the body, and the body stays exactly the JSON Schema'd payload. The record key is the
subject (the customer id), so one customer's events stay ordered on one partition.

Extensions (lower-case, as CloudEvents requires): ``correlationid``, ``causationid``, ``streamid``,
``streamversion`` and ``traceparent`` (the W3C distributed tracing extension), plus ``c360history``:
present (value ``import``) only on events that record an enterprise's past brought in by a bulk import
(``docs/import.md``). Their ``time`` is when it happened in the source system, and event-triggered
marketing must not react to them; projections fold them like any other event. Absent on live events.
And ``c360actor``: who asked for the change (the bearer token's subject; for the console, the signed-in
person), on events a request caused; absent on events a consumer or a timer appended. The audit trail
(``shared.web.audit``) reads the same value from the event store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

from shared.events.catalog import DomainEvent, TypeName, parse_ce_type
from shared.ids import uuid7

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"

REQUIRED_HEADERS = ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time")

Headers = list[tuple[str, bytes]]

HISTORY_HEADER = "ce_c360history"
"""The ``c360history`` extension as a Kafka header: set on imported history, absent on live events."""
HISTORY_IMPORT = "import"
"""Its value on events written by a bulk import of an enterprise's past."""
ACTOR_HEADER = "ce_c360actor"
"""The ``c360actor`` extension as a Kafka header: who asked for the change, when a request caused it."""


class EnvelopeError(ValueError):
    """A Kafka record that is not a valid customer360 CloudEvent; ``reason`` is machine-readable."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def source_for(service: str) -> str:
    """The CloudEvents ``source`` of a service."""
    return f"/customer360/{service}"


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds and a ``Z``.

    ``isoformat`` rather than ``strftime``: it writes every year with four digits (glibc's ``%Y`` gives
    ``204`` for year 204, which no RFC 3339 parser reads). A naive value is UTC: asyncpg answers the
    first instant PostgreSQL can hold (0001-01-01T00:00:00Z) naive, and every session here runs in UTC.
    """
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Envelope:
    """One event on the wire: CloudEvents attributes plus the JSON data (as bytes)."""

    id: UUID
    type: str
    source: str
    subject: str
    time: datetime
    data: bytes
    correlation_id: str | None = None
    causation_id: str | None = None
    stream_id: str | None = None
    stream_version: int | None = None
    traceparent: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def type_name(self) -> TypeName:
        return parse_ce_type(self.type)

    def data_dict(self) -> dict[str, Any]:
        value = orjson.loads(self.data)
        if not isinstance(value, dict):
            raise EnvelopeError("invalid_json", "event data must be a JSON object")
        return value

    def header_map(self) -> dict[str, str]:
        """The CloudEvents attributes as ``ce_*`` header names to string values."""
        headers = {
            "ce_specversion": SPEC_VERSION,
            "ce_id": str(self.id),
            "ce_source": self.source,
            "ce_type": self.type,
            "ce_subject": self.subject,
            "ce_time": format_time(self.time),
            "content-type": CONTENT_TYPE,
        }
        optional = {
            "ce_correlationid": self.correlation_id,
            "ce_causationid": self.causation_id,
            "ce_streamid": self.stream_id,
            "ce_streamversion": None if self.stream_version is None else str(self.stream_version),
            "ce_traceparent": self.traceparent,
        }
        headers.update({k: v for k, v in optional.items() if v is not None})
        headers.update(self.extra)
        return headers


def is_imported_history(envelope: Envelope) -> bool:
    """True for an event that records imported past (``ce_c360history``): no marketing reacts to it."""
    return envelope.extra.get(HISTORY_HEADER) == HISTORY_IMPORT


def new_envelope(
    event: DomainEvent,
    *,
    service: str,
    subject: str,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    stream_id: str | None = None,
    stream_version: int | None = None,
    traceparent: str | None = None,
    time: datetime | None = None,
    event_id: UUID | None = None,
) -> Envelope:
    """Wrap a domain event for publication."""
    return Envelope(
        id=event_id or uuid7(),
        type=event.ce_type(),
        source=source_for(service),
        subject=subject,
        time=time or datetime.now(UTC),
        data=encode_data(event),
        correlation_id=correlation_id,
        causation_id=causation_id,
        stream_id=stream_id,
        stream_version=stream_version,
        traceparent=traceparent,
    )


def encode_data(event: DomainEvent) -> bytes:
    """The JSON bytes of an event's data (money as strings, times as RFC 3339)."""
    return event.__pydantic_serializer__.to_json(event)


def headers_to_kafka(headers: Mapping[str, str]) -> Headers:
    return [(name, value.encode()) for name, value in headers.items()]


def to_kafka(envelope: Envelope) -> tuple[bytes, bytes, Headers]:
    """``(key, value, headers)`` for a Kafka producer."""
    return envelope.subject.encode(), envelope.data, headers_to_kafka(envelope.header_map())


def _header_dict(headers: Iterable[tuple[str, bytes | str | None]] | Mapping[str, Any] | None) -> dict[str, str]:
    if headers is None:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    result: dict[str, str] = {}
    for name, value in items:
        if value is None:
            continue
        try:
            result[name] = value.decode() if isinstance(value, bytes | bytearray) else str(value)
        except UnicodeDecodeError:
            raise EnvelopeError("invalid_header", f"header {name} is not UTF-8") from None
    return result


_KNOWN_HEADERS = frozenset(REQUIRED_HEADERS) | {
    "ce_subject",
    "content-type",
    "ce_correlationid",
    "ce_causationid",
    "ce_streamid",
    "ce_streamversion",
    "ce_traceparent",
}


def from_kafka(
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[tuple[str, bytes | str | None]] | Mapping[str, Any] | None,
) -> Envelope:
    """Decode a Kafka record; raises ``EnvelopeError`` with a reason for anything malformed."""
    return decode_kafka(key, value, headers)[0]


def decode_kafka(
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[tuple[str, bytes | str | None]] | Mapping[str, Any] | None,
) -> tuple[Envelope, dict[str, Any]]:
    """Decode a Kafka record into its envelope and its parsed data (the JSON is parsed once)."""
    h = _header_dict(headers)
    missing = [name for name in REQUIRED_HEADERS if not h.get(name)]
    if missing:
        raise EnvelopeError("missing_headers", ", ".join(missing))
    if h["ce_specversion"] != SPEC_VERSION:
        raise EnvelopeError("unsupported_specversion", h["ce_specversion"])
    content_type = h.get("content-type", CONTENT_TYPE)
    if not content_type.startswith(CONTENT_TYPE):
        raise EnvelopeError("unsupported_content_type", content_type)
    try:
        event_id = UUID(h["ce_id"])
    except ValueError:
        raise EnvelopeError("invalid_id", h["ce_id"]) from None
    try:
        parse_ce_type(h["ce_type"])
    except ValueError as exc:
        raise EnvelopeError("unknown_type", str(exc)) from None
    try:
        moment = parse_time(h["ce_time"])
    except ValueError:
        raise EnvelopeError("invalid_time", h["ce_time"]) from None
    if value is None:
        raise EnvelopeError("invalid_json", "empty record value")
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError("invalid_json", str(exc)) from None
    if not isinstance(parsed, dict):
        raise EnvelopeError("invalid_json", "event data must be a JSON object")
    subject = h.get("ce_subject") or (key.decode(errors="replace") if key else "")
    version_text = h.get("ce_streamversion")
    try:
        stream_version = int(version_text) if version_text else None
    except ValueError:
        raise EnvelopeError("invalid_header", f"ce_streamversion={version_text!r}") from None
    envelope = Envelope(
        id=event_id,
        type=h["ce_type"],
        source=h["ce_source"],
        subject=subject,
        time=moment,
        data=bytes(value),
        correlation_id=h.get("ce_correlationid"),
        causation_id=h.get("ce_causationid"),
        stream_id=h.get("ce_streamid"),
        stream_version=stream_version,
        traceparent=h.get("ce_traceparent"),
        extra={k: v for k, v in h.items() if k not in _KNOWN_HEADERS},
    )
    return envelope, parsed
