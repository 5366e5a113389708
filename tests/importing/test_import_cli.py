"""``c360 import`` as a real process against real PostgreSQL: rejects, re-run, delta, identity, kill -9.

Each test gets fresh customer, ticketing and campaigns databases; entity ids are deterministic
(``ledger.entity_id``), so two databases that imported the same records can be compared row by row.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from services.customer.adapters.readmodel import PostgresReadModel
from services.customer.application import handlers
from services.ticketing.application.scheduler import emit_sla_breaches
from shared.clock import utc_now
from shared.store.db import connect, create_pool
from shared.store.eventstore import EventStore
from shared.store.idempotent_commands import run_command
from shared.testing.waiting import eventually

from .builders import (
    a_customer_row,
    a_payment_row,
    a_survey_row,
    a_ticket_row,
    an_invoice_row,
    an_order_row,
    ndjson,
    tag,
)

C360 = str(Path(sys.executable).parent / "c360")
SERVICES = ("customer", "ticketing", "campaigns")


@dataclass
class Stores:
    dsns: dict[str, str]
    tmp: Path

    def env(self) -> dict[str, str]:
        env = {**os.environ, "KAFKA_TOPIC_PREFIX": "imp.", "ENVIRONMENT": "test"}
        for s, dsn in self.dsns.items():
            env[f"{s.upper()}_DATABASE_URL"] = dsn
        return env

    def write(self, name: str, rows: list[dict[str, Any]]) -> Path:
        path = self.tmp / name
        path.write_bytes(ndjson(rows))
        return path

    def run(self, *files: Path, rejects: str = "rejects.ndjson") -> subprocess.CompletedProcess[str]:
        return subprocess.run([C360, "import", *map(str, files), "--no-progress", "--rejects",
                               str(self.tmp / rejects)], env=self.env(), capture_output=True, text=True,
                              timeout=300, check=False)

    def rejects(self, name: str = "rejects.ndjson") -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in (self.tmp / name).read_bytes().splitlines()]

    async def fetch(self, service: str, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await connect(self.dsns[service])
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def events(self, service: str) -> list[tuple[Any, ...]]:
        rows = await self.fetch(service, "select stream_id, version, event_type, occurred_at from events"
                                         " order by stream_id, version")
        return [tuple(r) for r in rows]

    async def count(self, service: str, table: str = "events") -> int:
        return int((await self.fetch(service, f"select count(*) from {table}"))[0][0])


@pytest.fixture
async def stores(make_database: Callable[..., Awaitable[str]], tmp_path: Path) -> Stores:
    return Stores({s: await make_database(s) for s in SERVICES}, tmp_path)


def a_history(t: str) -> list[dict[str, Any]]:
    return [
        a_customer_row(f"C{t}"),
        an_order_row(f"O{t}", f"C{t}", status="shipped", status_at="2019-05-03T09:30:00Z"),
        an_invoice_row(f"I{t}", f"O{t}"),
        a_payment_row(f"P{t}", f"I{t}"),
        a_ticket_row(f"T{t}", f"C{t}"),
        a_survey_row(f"S{t}", f"C{t}"),
    ]


async def test_bad_rows_go_to_the_reject_file_and_good_rows_are_imported(stores: Stores) -> None:
    t = tag()
    rows = [*a_history(t),
            {"kind": "lead", "source_id": "L1", "occurred_at": "2020-01-01T00:00:00Z"},
            a_customer_row(f"X{t}", occurred_at="2020-01-01T10:00:00"),
            an_order_row(f"Z{t}", "nobody-we-know"),
            a_payment_row(f"Q{t}", f"I{t}", amount="0")]
    done = stores.run(stores.write("history.ndjson", rows))
    assert done.returncode == 1, done.stderr
    rejects = {r["line"]: r["reason"] for r in stores.rejects()}
    assert set(rejects) == {7, 8, 9, 10}
    assert "unknown kind" in rejects[7]
    assert "offset" in rejects[8]
    assert "unknown reference" in rejects[9]
    assert "greater than 0" in rejects[10]
    types = [e[2] for e in await stores.events("customer")]
    assert sorted(types) == sorted(["CustomerRegistered", "OrderPlaced", "OrderShipped", "InvoiceIssued",
                                    "PaymentReceived"])
    assert {e[2] for e in await stores.events("ticketing")} >= {"TicketOpened", "ComplaintFiled"}
    assert [e[2] for e in await stores.events("campaigns")] == ["SurveyAnswered"]


async def test_history_keeps_its_time_and_is_marked_as_imported(stores: Stores) -> None:
    t = tag()
    assert stores.run(stores.write("h.ndjson", a_history(t))).returncode == 0
    rows = await stores.fetch("customer", "select e.event_type, e.occurred_at, e.metadata, o.headers"
                                          " from events e join outbox o on o.headers->>'ce_id' = e.event_id::text")
    placed = next(r for r in rows if r["event_type"] == "OrderPlaced")
    assert placed["occurred_at"] == datetime(2019, 5, 1, 9, 30, tzinfo=UTC)
    assert placed["headers"]["ce_time"].startswith("2019-05-01T09:30:00")
    assert all(r["headers"]["ce_c360history"] == "import" for r in rows)
    assert all(r["metadata"]["history"] == "import" for r in rows)
    registered = next(r for r in rows if r["event_type"] == "CustomerRegistered")
    assert registered["occurred_at"] == datetime(2019, 3, 4, 7, 0, tzinfo=UTC)  # +03:00 kept as an instant
    [order] = await stores.fetch("customer", "select status, placed_at, shipped_at, lines, total, margin from orders")
    assert (order["status"], order["placed_at"].year, order["shipped_at"].day) == ("shipped", 2019, 3)
    assert order["lines"] == [{"sku": "SKU-1", "name": "SKU-1", "category": "books", "quantity": 2,
                               "unit_price": "10.00", "unit_cost": "6.00", "line_total": "20.00",
                               "line_cost": "12.00"}]
    assert (str(order["total"]), str(order["margin"])) == ("20.00", "8.00")


async def test_running_the_same_file_again_creates_nothing(stores: Stores) -> None:
    path = stores.write("h.ndjson", a_history(tag()))
    assert stores.run(path).returncode == 0
    before = {s: await stores.events(s) for s in SERVICES}
    outbox = {s: await stores.count(s, "outbox") for s in SERVICES}
    again = stores.run(path)
    assert again.returncode == 0
    assert "0 imported" in again.stdout and "0 events written" in again.stdout
    assert {s: await stores.events(s) for s in SERVICES} == before
    assert {s: await stores.count(s, "outbox") for s in SERVICES} == outbox


async def test_a_delta_appends_only_the_events_that_move_each_record(stores: Stores) -> None:
    t = tag()
    assert stores.run(stores.write("h.ndjson", a_history(t))).returncode == 0
    delta = [an_order_row(f"O{t}", f"C{t}", status="delivered", status_at="2019-05-06T12:00:00Z"),
             a_ticket_row(f"T{t}", f"C{t}", status="resolved", resolved_at="2020-02-03T09:00:00Z",
                          root_cause="delivery_delay", owner_id="agent-7", resolution="Refunded the shipping")]
    before = {s: await stores.events(s) for s in ("customer", "ticketing")}
    done = stores.run(stores.write("delta.ndjson", delta))
    assert done.returncode == 0, done.stdout + done.stderr
    new_customer = [e for e in await stores.events("customer") if e not in before["customer"]]
    assert [(e[2], e[1]) for e in new_customer] == [("OrderDelivered", 3)]
    assert new_customer[0][3] == datetime(2019, 5, 6, 12, 0, tzinfo=UTC)
    new_tickets = [e[2] for e in await stores.events("ticketing") if e not in before["ticketing"]]
    assert new_tickets == ["TicketAssigned", "TicketResolved"]
    [ticket] = await stores.fetch("ticketing", "select status, owner_id from tickets")
    assert (ticket["status"], ticket["owner_id"]) == ("resolved", "agent-7")
    [order] = await stores.fetch("customer", "select status, version from orders")
    assert (order["status"], order["version"]) == ("delivered", 3)
    assert "0 events written" in stores.run(stores.write("delta.ndjson", delta)).stdout


async def test_a_customer_whose_email_exists_is_linked_not_duplicated(stores: Stores) -> None:
    t = tag()
    pool = await create_pool(stores.dsns["customer"], min_size=1, max_size=2)
    try:
        live = await run_command(pool, EventStore(service="customer", topic="customer.events"),
                                 lambda uow: handlers.register_customer(uow, now=utc_now(), name="Live Ayşe",
                                                                        email=f"Live{t}@Example.com"),
                                 rows_factory=PostgresReadModel)
    finally:
        await pool.close()
    live_id = live.resource_id
    rows = [a_customer_row(f"A{t}", email=f"  live{t}@example.com"), an_order_row(f"O{t}", f"A{t}"),
            a_customer_row(f"B{t}", email=f"new{t}@example.com"),
            a_customer_row(f"D{t}", email=f"NEW{t}@example.com"),  # the same person twice in the source
            a_ticket_row(f"T{t}", f"A{t}")]
    assert stores.run(stores.write("h.ndjson", rows)).returncode == 0
    customers = await stores.fetch("customer", "select id::text, email from customers order by email")
    assert [c["email"] for c in customers] == [f"live{t}@example.com", f"new{t}@example.com"]
    [order] = await stores.fetch("customer", "select customer_id::text from orders")
    assert order["customer_id"] == live_id
    [ticket] = await stores.fetch("ticketing", "select customer_id::text from tickets")
    assert ticket["customer_id"] == live_id
    ledger = await stores.fetch("customer", "select source_id, outcome from import_ledger where kind = 'customer'"
                                            " order by source_id")
    assert [(r["source_id"][0], r["outcome"]) for r in ledger] == [("A", "linked"), ("B", "created"),
                                                                    ("D", "linked")]


def generate(path: Path, *, customers: int) -> Path:
    """A realistic file from the generator (``python -m demo.export``), as a user would make it."""
    with path.open("wb") as out:
        subprocess.run([sys.executable, "-m", "demo.export", "--customers", str(customers), "--seed", "5",
                        "--as-of", "2026-01-01T00:00:00Z", "--prefix", tag()], stdout=out, check=True, timeout=120)
    return path


def start_import(stores: Stores, path: Path) -> subprocess.Popen[bytes]:
    """``c360 import`` in small batches, in the background, to be killed."""
    return subprocess.Popen([C360, "import", str(path), "--no-progress", "--batch-size", "500", "--rejects",
                             str(stores.tmp / "killed.ndjson")], env=stores.env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def test_kill_9_in_the_middle_then_a_rerun_equals_one_clean_run(
    stores: Stores, make_database: Callable[..., Awaitable[str]]
) -> None:
    path = generate(stores.tmp / "big.ndjson", customers=1500)
    killed = start_import(stores, path)

    async def committed() -> int:
        return await stores.count("customer", "import_ledger")

    try:
        await eventually(committed, timeout=120, interval=0.02, message="the import committed a first batch")
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
    assert killed.returncode == -signal.SIGKILL
    partial = await stores.count("customer", "import_ledger")
    assert partial > 0
    resumed = stores.run(path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    clean = Stores({s: await make_database(s) for s in SERVICES}, stores.tmp)
    assert clean.run(path, rejects="clean.ndjson").returncode == 0
    for service in SERVICES:
        assert await stores.events(service) == await clean.events(service), service
        assert await stores.count(service, "outbox") == await clean.count(service, "outbox")
        assert await stores.count(service, "import_ledger") == await clean.count(service, "import_ledger")


async def test_an_imported_open_ticket_is_due_from_the_import_and_a_resolved_one_keeps_its_past(
        stores: Stores) -> None:
    t = tag()
    started = utc_now()
    path = stores.write("sla.ndjson", [
        a_customer_row(f"C{t}"),
        a_ticket_row(f"OPEN{t}", f"C{t}"),
        a_ticket_row(f"DONE{t}", f"C{t}", status="resolved", resolved_at="2021-02-20T09:00:00Z",
                     root_cause="delivery_delay", owner_id="agent-7"),
    ])
    assert stores.run(path).returncode == 0
    rows = {r["status"]: r for r in await stores.fetch(
        "ticketing", "select status, opened_at, first_response_due, resolution_due, queue_due, breached"
                     " from tickets")}
    still_open, resolved = rows["open"], rows["resolved"]
    assert still_open["opened_at"] == datetime(2020, 2, 3, 8, tzinfo=UTC)  # history keeps its time
    assert still_open["first_response_due"] > started  # no team could have answered it in 2020
    assert still_open["queue_due"] > started and not still_open["breached"]
    assert resolved["first_response_due"] < datetime(2020, 3, 1, tzinfo=UTC)  # judged on its own past
    assert resolved["breached"]  # resolved a year later: the breach is history, recorded as such
    pool = await create_pool(stores.dsns["ticketing"], min_size=1, max_size=1)
    try:
        assert await emit_sla_breaches(pool, EventStore(service="ticketing", topic=None), started) == 0
    finally:
        await pool.close()
