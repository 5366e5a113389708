"""Right of access across services (issue 20.1): each service exports its own part of a customer.

A data-protection officer (or the customer, self-service) asks the customer service for an export
(``POST /v1/customers/{id}/exports``); it gathers one *part* per service. Every service serves its
own part at ``GET /v1/internal/customers/{customer_id}/export`` (scope ``keys:read``, the scope of
service-to-service access to personal data, see ``shared.privacy.keyaccess``): no service reads another's
database.

A part is ``{"service", "exported_at", "sections": {...}, "tables": {...}, "not_personal": {...}}``.
``tables`` names, for every table of the service's database with a ``customer_id`` column, the
section its rows are in; ``not_personal`` names the tables that hold a customer id but nothing
about the person, with the reason. ``Coverage`` is that declaration, and
``tables_with_customer_id`` finds the tables it must cover: the privacy tests fail when a migration
adds a table with a ``customer_id`` column that is in neither (``tests/privacy/test_export.py``).
The document's JSON Schema is ``schemas/export/customer-export.json`` (``docs/privacy-export.md``).
The route that serves a part is ``shared.privacy.export_routes``: a use case builds its part with
these helpers without importing the web kit.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from shared.events.envelope import format_time
from shared.store.eventstore import RecordedEvent

PART_ROUTE = "/internal/customers/{customer_id}/export"
PART_PATH = "/v1" + PART_ROUTE
"""Where every service serves its part of a customer's export (scope ``keys:read``)."""

SERVICES = ("customer", "ticketing", "campaigns", "analytics")
"""The services whose parts make a complete export, in the order the document lists them."""


@dataclass(frozen=True)
class Coverage:
    """Which section of a service's part holds each table's rows, and which tables are not personal (why)."""

    exported: Mapping[str, str]
    not_personal: Mapping[str, str]

    def as_part(self) -> dict[str, Any]:
        """The declaration as the part states it (``tables`` and ``not_personal``)."""
        return {"tables": dict(sorted(self.exported.items())), "not_personal": dict(sorted(self.not_personal.items()))}

    def missing(self, tables: Iterable[str]) -> list[str]:
        """Tables with a customer id this declaration does not mention."""
        return sorted(set(tables) - set(self.exported) - set(self.not_personal))


async def tables_with_customer_id(conn: asyncpg.Connection) -> set[str]:
    """Every table visible on the connection's search path with a ``customer_id`` column."""
    rows = await conn.fetch(
        """select distinct c.table_name from information_schema.columns c
           join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
           where c.column_name = 'customer_id' and t.table_type = 'BASE TABLE'
             and c.table_schema = any(current_schemas(false))""")
    return {r["table_name"] for r in rows}


def json_value(value: Any) -> Any:
    """A database or event value as JSON: ids and times as strings, money as a decimal string."""
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(v) for v in value]
    if hasattr(value, "lower") and hasattr(value, "upper") and hasattr(value, "isempty"):  # an asyncpg Range
        return {"from": json_value(value.lower), "to": json_value(value.upper)}
    return value


async def table_rows(
    conn: asyncpg.Connection, table: str, people: Iterable[str | UUID], *, column: str = "customer_id",
    order_by: str | None = None,
) -> list[dict[str, Any]]:
    """Every row of ``table`` about these people, every column, as JSON (the name is ours, never input)."""
    order = f" order by {order_by}" if order_by else ""
    rows = await conn.fetch(f"select * from {table} where {column}::text = any($1::text[]){order}",
                            [str(p) for p in people])
    return [json_value(dict(r)) for r in rows]


def event_json(recorded: RecordedEvent) -> dict[str, Any]:
    """A stored event (``shared.store.eventstore.RecordedEvent``) as the export shows it: opened with our key."""
    return {
        "event_id": str(recorded.event_id),
        "type": recorded.event_type,
        "stream_id": recorded.stream_id,
        "occurred_at": format_time(recorded.occurred_at),
        "data": orjson.loads(orjson.dumps(recorded.event.model_dump(mode="json"))),
    }


def part(service: str, coverage: Coverage, sections: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """One service's part of the export; a mapped table with no section is a bug, so it raises."""
    absent = sorted(set(coverage.exported.values()) - set(sections))
    if absent:
        raise AssertionError(f"{service}: coverage names sections the export lacks: {', '.join(absent)}")
    return {"service": service, "exported_at": format_time(now), "sections": dict(sections), **coverage.as_part()}
