"""Right of access across every service (issue 20.1): an export job gathering each service's part.

``POST /v1/customers/{id}/exports`` (a data-protection officer with ``privacy:manage``, or the customer with a
self-service token) starts a job in the background of this API process and answers 202. The job asks
each service for its own part at ``GET /v1/internal/customers/{id}/export`` with a service token
(``shared.export``; the customer service's part is read here, from its own database), records each
part's progress, and stores one document (``schemas/export/customer-export.json``) when
every part is in. A part that cannot be had after a few attempts fails the job with the reason: an
export that silently lacks a service would tell the person we hold less than we do.

Why a job: a long-standing customer's history (years of orders, tickets and events in four
services) takes longer than a request should wait. ``GET .../exports/{export_id}`` shows the
progress, ``.../document`` the JSON and ``.../document.html`` the human-readable rendering.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import orjson

from services.customer.adapters import exports as rows
from services.customer.application import queries
from shared.clock import Clock
from shared.envelope import format_time
from shared.eventstore import EventStore
from shared.export import PART_PATH, SERVICES, Coverage, json_value, part, table_rows
from shared.keyaccess import ServiceToken

log = logging.getLogger(__name__)

DOCUMENT_SCHEMA = "https://customer360.example/schemas/export/customer-export.json"
"""The ``$schema`` of every export document (``schemas/export/customer-export.json``)."""

COVERAGE = Coverage(
    exported={
        "orders": "orders",
        "invoices": "invoices",
        "payments": "payments",
        "erasure_status": "erasure",
        "import_ledger": "import_records",
        "customer_exports": "exports",
    },
    not_personal={},
)

ATTEMPTS = 3
"""Tries per remote part (a restarting service answers 503 for a moment) before the job fails."""
PART_TIMEOUT = 30.0

_running: set[asyncio.Task[None]] = set()


async def own_part(conn: asyncpg.Connection, store: EventStore, customer_id: UUID, *, now: datetime) -> dict[str, Any]:
    """The customer service's part: profile, merged duplicates, orders, billing, events, and the ledgers."""
    held = await queries.export(conn, store, customer_id, now=now)
    people = [customer_id, *(UUID(d["id"]) for d in held["merged_duplicates"])]
    return part("customer", COVERAGE, {
        "profile": json_value(held["customer"]),
        "merged_duplicates": json_value(held["merged_duplicates"]),
        "orders": json_value(held["orders"]),
        "invoices": json_value(held["invoices"]),
        "payments": json_value(held["payments"]),
        "events": json_value(held["events"]),
        "erasure": await table_rows(conn, "erasure_status", people, order_by="service"),
        "import_records": await table_rows(conn, "import_ledger", people, order_by="imported_at"),
        "exports": json_value(await rows.requests_of(conn, people)),
    }, now=now)


async def request_export(conn: asyncpg.Connection, customer_id: UUID, export_id: UUID, *, requested_by: str,
                         self_service: bool, now: datetime) -> None:
    """Record a new export of a visible customer (404 unknown, 410 erased) as running."""
    await queries.visible_customer(conn, customer_id)
    await rows.create(conn, export_id, customer_id, requested_by=requested_by, self_service=self_service,
                      services=SERVICES, now=now)


def status_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """An export's status and progress (never the document)."""
    parts = row["parts"]
    base = f"/v1/customers/{row['customer_id']}/exports/{row['id']}"
    done = row["status"] == "done"
    return {
        "id": str(row["id"]),
        "customer_id": str(row["customer_id"]),
        "status": row["status"],
        "requested_by": row["requested_by"],
        "self_service": row["self_service"],
        "requested_at": format_time(row["requested_at"]),
        "finished_at": format_time(row["finished_at"]) if row["finished_at"] else None,
        "error": row["error"],
        "progress": {
            "parts_done": sum(1 for p in parts.values() if p.get("status") == "done"),
            "parts_total": len(parts),
            "parts": [{"service": s, **parts[s]} for s in SERVICES if s in parts],
        },
        "document": f"{base}/document" if done else None,
        "rendering": f"{base}/document.html" if done else None,
    }


class Gatherer:
    """Runs export jobs: the own part from the database, the others over HTTP with a service token."""

    def __init__(self, pool: asyncpg.Pool, store: EventStore, clock: Clock, *, urls: Mapping[str, str],
                 token: ServiceToken, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.pool, self.store, self.clock = pool, store, clock
        self.urls = {service: url.rstrip("/") for service, url in urls.items()}
        self.token = token
        self.transport = transport

    def start(self, export_id: UUID, customer_id: UUID, *, requested_at: datetime, requested_by: str,
              self_service: bool) -> None:
        """Run the job in the background of this process (the task is kept until it ends)."""
        task = asyncio.create_task(self._run(export_id, customer_id, {
            "requested_at": format_time(requested_at), "requested_by": requested_by, "self_service": self_service}))
        _running.add(task)
        task.add_done_callback(_running.discard)

    async def _run(self, export_id: UUID, customer_id: UUID, request: dict[str, Any]) -> None:
        parts: dict[str, dict[str, Any]] = {}
        try:
            async with self.pool.acquire() as conn:
                parts["customer"] = await own_part(conn, self.store, customer_id, now=self.clock.now())
                await rows.record_part(conn, export_id, "customer", self._done())
            async with httpx.AsyncClient(timeout=PART_TIMEOUT, transport=self.transport) as http:
                for service in SERVICES[1:]:
                    parts[service] = await self._remote(http, service, customer_id)
                    async with self.pool.acquire() as conn:
                        await rows.record_part(conn, export_id, service, self._done())
            document = {
                "$schema": DOCUMENT_SCHEMA,
                "export_id": str(export_id),
                "customer_id": str(customer_id),
                **request,
                "completed_at": format_time(self.clock.now()),
                "services": [parts[s] for s in SERVICES],
            }
            async with self.pool.acquire() as conn:
                await rows.finish(conn, export_id, document=document, error=None, now=self.clock.now())
        except Exception as exc:  # any failure ends the job as failed, with the reason shown
            failed = next((s for s in SERVICES if s not in parts), "customer")
            reason = f"{failed}: {exc}"
            log.warning("export %s failed: %s", export_id, reason)
            try:
                async with self.pool.acquire() as conn:
                    await rows.record_part(conn, export_id, failed, {"status": "failed", "error": str(exc)})
                    await rows.finish(conn, export_id, document=None, error=reason, now=self.clock.now())
            except Exception:  # the status read marks a job without heartbeat failed later
                log.exception("could not record the failure of export %s", export_id)

    def _done(self) -> dict[str, Any]:
        return {"status": "done", "finished_at": format_time(self.clock.now())}

    async def _remote(self, http: httpx.AsyncClient, service: str, customer_id: UUID) -> dict[str, Any]:
        url = self.urls[service] + PART_PATH.format(customer_id=customer_id)
        last = ""
        for attempt in range(ATTEMPTS):
            try:
                answer = await http.get(url, headers={"Authorization": f"Bearer {self.token.get()}"})
            except httpx.HTTPError as exc:
                last = f"unreachable ({type(exc).__name__})"
            else:
                if answer.status_code == 200:
                    body: dict[str, Any] = answer.json()
                    if body.get("service") != service:
                        raise RuntimeError(f"answered a part of {body.get('service')!r}")
                    return body
                last = f"answered {answer.status_code}"
                if answer.status_code < 500:
                    break
            await asyncio.sleep(0.5 * 2**attempt)
        raise RuntimeError(f"its part could not be had: {last}")


# --- the human-readable rendering -----------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return f"<pre>{html.escape(_pretty(value))}</pre>"
    return html.escape(str(value))


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _section(name: str, value: Any) -> str:
    title = f"<h3>{html.escape(name.replace('_', ' ').capitalize())}</h3>"
    if isinstance(value, list) and not value:
        return f"{title}<p class=\"none\">Nothing held.</p>"
    if value is None:
        return f"{title}<p class=\"none\">Nothing held.</p>"
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        columns = list(dict.fromkeys(k for v in value for k in v))
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{_cell(v.get(c))}</td>" for c in columns) + "</tr>" for v in value)
        return f"{title}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(value, dict):
        body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_cell(v)}</td></tr>" for k, v in value.items())
        return f"{title}<table><tbody>{body}</tbody></table>"
    return f"{title}<p>{_cell(value)}</p>"


def render_html(document: Mapping[str, Any]) -> str:
    """The export as one HTML page: a heading per service, a table per section, nested values as JSON."""
    services = []
    for service_part in document["services"]:
        sections = "".join(_section(n, v) for n, v in service_part["sections"].items())
        covered = "".join(f"<li><code>{html.escape(t)}</code> → {html.escape(s)}</li>"
                          for t, s in service_part["tables"].items())
        services.append(f"<section><h2>{html.escape(service_part['service'].capitalize())}</h2>"
                        f"<p>Exported {html.escape(service_part['exported_at'])}. Tables holding data about you: "
                        f"</p><ul>{covered}</ul>{sections}</section>")
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>Your data - export {html.escape(document['export_id'])}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:.2em .4em;text-align:left;vertical-align:top}"
        "pre{margin:0;white-space:pre-wrap}.none{color:#666}</style></head><body>"
        f"<h1>Everything we hold about customer {html.escape(document['customer_id'])}</h1>"
        f"<p>Requested {html.escape(document['requested_at'])} by {html.escape(document['requested_by'])}; "
        f"completed {html.escape(document['completed_at'])}. The same data, machine-readable: the JSON "
        "document of this export.</p>"
        + "".join(services) + "</body></html>"
    )
