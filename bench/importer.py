"""Bulk import (issue 18): records/s written into the event stores, against the HTTP APIs in the same run.

A realistic file from ``demo.export`` (``--size`` customers, about six records and ten events each) is
imported by the same code as ``c360 import`` into fresh customer, ticketing and campaigns databases:
validation, each service's domain, ``COPY`` of events and outbox rows, read models and ledgers.
The comparison loads a sample of the same customers and orders one command at a time through the
customer service's HTTP API (in process, over ASGI, so no network cost is counted against it).

Not measured here: onboarding end to end (relayed and visible in every read model); see
``docs/import.md`` and the report of issue 18.
"""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from bench.report import Figure, Progress
from bench.setup import Scratch, Size
from demo.export import export
from shared.importing.cli import tune_gc_for_import
from shared.importing.runner import Source, open_local_importers, run_import
from shared.settings import ServiceSettings

progress = Progress.bar
SIZE = Size(default=3000, smoke=30, full=100_000, counts="customers in the imported file")
HTTP_SAMPLE = 150
"""Customers (with their orders) loaded through the HTTP API for the comparison."""
AS_OF = datetime(2026, 1, 1, tzinfo=UTC)


def _settings(service: str, scratch: Scratch) -> ServiceSettings:
    from shared.ops.service import load_service

    settings: ServiceSettings = load_service(service).settings_factory()
    return settings.model_copy(update={"database_url": scratch.dsn, "kafka_topic_prefix": scratch.prefix})


async def _import(lines: list[bytes]) -> tuple[int, int, float]:
    async with Scratch("customer") as customer, Scratch("ticketing") as ticketing, Scratch("campaigns") as campaigns:
        scratches = {"customer": customer, "ticketing": ticketing, "campaigns": campaigns}
        importers = await open_local_importers({name: _settings(name, s) for name, s in scratches.items()})
        tune_gc_for_import()  # as ``c360 import`` does once its importers are open
        bar = progress(total=len(lines), desc="import", unit="rec")
        try:
            started = time.perf_counter()
            summary = await run_import([Source("bench", lines)], importers, importers["customer"],  # type: ignore[arg-type]
                                       progress=lambda done, _: bar.update(done))
            seconds = time.perf_counter() - started
        finally:
            bar.close()
            for importer in importers.values():
                await importer.close()
        return summary.read - summary.rejected, summary.events, seconds


async def _through_http(lines: list[bytes]) -> tuple[int, float]:
    from services.customer.bootstrap import build_app
    from services.customer.config import CustomerSettings
    from shared.web import mint_token

    async with Scratch("customer") as scratch:
        settings = CustomerSettings(environment="test", database_url=scratch.dsn, kafka_topic_prefix=scratch.prefix)
        app = build_app(settings)
        token = mint_token(settings, "bench", ["customers:write", "orders:write"])
        headers = {"Authorization": f"Bearer {token}"}
        records = [orjson.loads(line) for line in lines]
        wanted = {r["source_id"] for r in records if r["kind"] == "customer"}
        sample = [r for r in records if r["kind"] == "customer" or r.get("customer_source_id") in wanted]
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://customer") as client:
                ids: dict[str, str] = {}
                done = 0
                started = time.perf_counter()
                for r in sample:
                    if r["kind"] == "customer":
                        answer = await client.post("/v1/customers", headers=headers, json={
                            "name": r["name"], "email": r["email"], "relationship_type": r["relationship_type"]})
                        ids[r["source_id"]] = answer.json()["id"]
                    elif r["kind"] == "order":
                        answer = await client.post("/v1/orders", headers=headers, json={
                            "customer_id": ids[r["customer_source_id"]], "currency": "EUR", "channel": "web",
                            "lines": r["lines"]})
                    else:
                        continue
                    if answer.status_code < 300:
                        done += 1
                return done, time.perf_counter() - started


async def run(size: int) -> list[Figure]:
    buffer = io.BytesIO()
    export(buffer, customers=size, seed=7, as_of=AS_OF, years=3)
    lines = buffer.getvalue().splitlines(keepends=True)
    imported, events, seconds = await _import(lines)
    http_done, http_seconds = await _through_http(_first_customers(lines, HTTP_SAMPLE))
    bulk_rate = imported / seconds
    http_rate = http_done / http_seconds
    return [
        Figure("importer", f"records/s into the event stores ({imported} records, {events} events)",
               round(bulk_rate), "records/s", target=20_000, op=">=",
               comparison=f"HTTP API one command at a time: {http_rate:.0f} records/s ({http_done} records)",
               ratio=bulk_rate / http_rate if http_rate else None),
        Figure("importer", "events/s into the event stores", round(events / seconds), "events/s"),
    ]


def _first_customers(lines: list[bytes], customers: int) -> list[bytes]:
    kept: list[bytes] = []
    seen = 0
    for line in lines:
        record: dict[str, Any] = orjson.loads(line)
        if record["kind"] == "customer":
            seen += 1
            if seen > customers:
                break
        kept.append(line)
    return kept
