"""Right of access across every service (issue 20.1): an export job gathering each service's part.

``POST /v1/customers/{id}/exports`` (a data-protection officer with ``privacy:manage``, or the customer with a
self-service token) starts a job in the background of this API process and answers 202. The job asks
each service for its own part at ``GET /v1/internal/customers/{id}/export`` with a service token
(``shared.privacy.export``; the customer service's part is read here, from its own database), records each
part's progress, and stores one document (``schemas/export/customer-export.json``) when
every part is in. A part that cannot be had after a few attempts fails the job with the reason: an
export that silently lacks a service would tell the person we hold less than we do.

Why a job: a long-standing customer's history (years of orders, tickets and events in four
services) takes longer than a request should wait. ``GET .../exports/{export_id}`` shows the
progress, ``.../document`` the JSON and ``.../document.html`` the human-readable rendering.

A process that dies mid-job: the job is leased by the process running it and the lease renewed
while it runs (migration 0007). Every API process runs an ``Adopter`` from start-up that leases jobs
whose lease ran out (their process is gone) and restarts them from scratch: each part is an
idempotent read, so starting over costs one more read per service and never mixes two runs' parts.
Of several replicas exactly one adopts a job (a conditional update); a job restarted ``MAX_RUNS``
times fails with the reason instead of looping.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from services.customer.adapters import exports as rows
from services.customer.application import queries
from services.customer.application.ports import ExportParts
from shared.clock import Clock
from shared.contracts.privacy import CustomerExportRequested
from shared.events.envelope import format_time
from shared.privacy.export import SERVICES, Coverage, json_value, part, table_rows
from shared.store.eventstore import EventStore

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
        "customer_notes": "notes",
        "follow_ups": "follow_ups",
    },
    not_personal={},
)

MAX_RUNS = 3
"""Starts of one job (the first and two adoptions) before a job whose process keeps dying fails."""

_running: set[asyncio.Task[None]] = set()


@dataclass
class ProcessLease:
    """Who this process is to the leases of the export jobs it runs, and for how long it takes one.

    One per process (``PROCESS``); the API's start-up sets ``lease`` from the settings
    (``CUSTOMER_EXPORT_LEASE_SECONDS``) before any job starts.
    """

    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
    lease: timedelta = timedelta(seconds=30)


PROCESS = ProcessLease()


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
        "notes": await table_rows(conn, "customer_notes", people, order_by="written_at, id"),
        "follow_ups": await table_rows(conn, "follow_ups", people, order_by="due_at, id"),
    }, now=now)


async def request_export(conn: asyncpg.Connection, store: EventStore, customer_id: UUID, export_id: UUID, *,
                         requested_by: str, self_service: bool, now: datetime) -> None:
    """Record a new export of a visible customer (404 unknown, 410 erased) as running.

    The job row and its ``CustomerExportRequested`` (the audit trail's "who asked") commit together:
    an export nobody can account for, or an audit entry for a job that never existed, are both wrong.
    """
    await queries.visible_customer(conn, customer_id)
    async with conn.transaction():
        await rows.create(conn, export_id, customer_id, requested_by=requested_by, self_service=self_service,
                          services=SERVICES, now=now, lease=PROCESS.lease)
        requested = CustomerExportRequested(customer_id=customer_id, export_id=export_id, requested_by=requested_by,
                                            self_service=self_service, requested_at=now)
        await store.unpublished().append(conn, stream_id=f"export-{export_id}", stream_type="customer_export",
                                         expected_version=0, events=[requested], subject=str(customer_id),
                                         occurred_at=now)


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
    """Runs export jobs: the own part from the database, the others' from ``parts`` (over HTTP in production).

    Each job runs under this process's lease (``PROCESS``, or ``owner``/``lease`` given), renewed
    every third of it; a job whose lease is lost (adopted elsewhere, erased) is cancelled, and its
    writes are conditional on the lease anyway.
    """

    def __init__(self, pool: asyncpg.Pool, store: EventStore, clock: Clock, *, parts: ExportParts,
                 owner: str | None = None, lease: timedelta | None = None) -> None:
        self.pool, self.store, self.clock = pool, store, clock
        self.parts = parts
        self.owner = owner or PROCESS.owner
        self.lease = lease or PROCESS.lease

    def start(self, export_id: UUID, customer_id: UUID, *, requested_at: datetime, requested_by: str,
              self_service: bool, claimed: bool = False) -> None:
        """Run the job in the background of this process (the task is kept until it ends)."""
        request = {"requested_at": format_time(requested_at), "requested_by": requested_by,
                   "self_service": self_service}
        task = asyncio.create_task(self._leased(export_id, customer_id, request, claimed=claimed))
        _running.add(task)
        task.add_done_callback(_running.discard)

    async def adopt(self, *, max_runs: int = MAX_RUNS) -> list[UUID]:
        """Restart, from scratch, the running jobs whose process is gone (their lease ran out)."""
        async with self.pool.acquire() as conn:
            given_up = await rows.give_up_exhausted(conn, max_runs)
            adopted = await rows.adopt(conn, self.owner, self.lease)
        if given_up:
            log.warning("%d export(s) failed after %d starts", given_up, max_runs)
        for job in adopted:
            log.warning("export %s lost its process; restarting it (start %d)", job["id"], job["runs"])
            self.start(job["id"], job["customer_id"], requested_at=job["requested_at"],
                       requested_by=job["requested_by"], self_service=job["self_service"], claimed=True)
        return [job["id"] for job in adopted]

    async def _leased(self, export_id: UUID, customer_id: UUID, request: dict[str, Any], *, claimed: bool) -> None:
        """Claim the job (unless adopted), run it, and renew the lease while it runs."""
        if not claimed:
            async with self.pool.acquire() as conn:
                if not await rows.claim(conn, export_id, self.owner, self.lease):
                    return
        job = asyncio.create_task(self._run(export_id, customer_id, request))
        try:
            while not job.done():
                await asyncio.wait({job}, timeout=self.lease.total_seconds() / 3)
                if job.done():
                    break
                try:
                    async with self.pool.acquire() as conn:
                        held = await rows.renew(conn, export_id, self.owner, self.lease)
                except (OSError, asyncpg.PostgresError) as exc:  # the next beat tries again
                    log.warning("export %s: lease not renewed: %s", export_id, exc)
                    continue
                if not held:
                    log.warning("export %s: lease lost (ended, erased or adopted); stopping", export_id)
                    break
        finally:
            if not job.done():
                job.cancel()

    async def _run(self, export_id: UUID, customer_id: UUID, request: dict[str, Any]) -> None:
        parts: dict[str, dict[str, Any]] = {}
        owner = self.owner
        try:
            async with self.pool.acquire() as conn:
                parts["customer"] = await own_part(conn, self.store, customer_id, now=self.clock.now())
                await rows.record_part(conn, export_id, "customer", self._done(), owner)
            for service in SERVICES[1:]:
                parts[service] = await self.parts.fetch(service, customer_id)
                async with self.pool.acquire() as conn:
                    await rows.record_part(conn, export_id, service, self._done(), owner)
            document = {
                "$schema": DOCUMENT_SCHEMA,
                "export_id": str(export_id),
                "customer_id": str(customer_id),
                **request,
                "completed_at": format_time(self.clock.now()),
                "services": [parts[s] for s in SERVICES],
            }
            async with self.pool.acquire() as conn:
                await rows.finish(conn, export_id, document=document, error=None, now=self.clock.now(), owner=owner)
        except Exception as exc:  # any failure ends the job as failed, with the reason shown
            failed = next((s for s in SERVICES if s not in parts), "customer")
            reason = f"{failed}: {exc}"
            log.warning("export %s failed: %s", export_id, reason)
            try:
                async with self.pool.acquire() as conn:
                    await rows.record_part(conn, export_id, failed, {"status": "failed", "error": str(exc)}, owner)
                    await rows.finish(conn, export_id, document=None, error=reason, now=self.clock.now(), owner=owner)
            except Exception:  # the lease runs out: another process (or this one) adopts the job
                log.exception("could not record the failure of export %s", export_id)

    def _done(self) -> dict[str, Any]:
        return {"status": "done", "finished_at": format_time(self.clock.now())}


class Adopter:
    """Adopts export jobs whose process died, at start-up and every ``interval`` seconds after."""

    def __init__(self, gatherer: Gatherer, *, interval: float, max_runs: int = MAX_RUNS) -> None:
        self.gatherer, self.interval, self.max_runs = gatherer, interval, max_runs

    async def run(self) -> None:
        """Until cancelled (the API's shutdown); a failed round (database away) waits for the next."""
        while True:
            try:
                await self.gatherer.adopt(max_runs=self.max_runs)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("could not look for orphaned exports: %s", exc)
            await asyncio.sleep(self.interval)


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
