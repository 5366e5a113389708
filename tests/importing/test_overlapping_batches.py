"""The customer importer decides a batch while the one before it is still being written (``pipelined``).

What the next batch builds on is the previous batch's decisions, not yet committed: these tests run
files whose records depend on records a batch or two before (a delta of a customer's email and a
new customer with the old one, an order moved on, an invoice and its payment, an email linking to a
customer of an earlier batch) in batches of one to three rows, and compare every event, read row
and ledger row with the same file imported in one batch. Entity ids are deterministic, so two
databases are compared row by row; event times are the source's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson
import pytest

from services.customer.application import importing as customer_importing
from shared.errors import ConcurrencyConflict
from shared.importing.runner import ImportSummary, Source, open_local_importers, run_import
from shared.ops.service import load_service
from shared.settings import ServiceSettings
from shared.store.db import connect

from .builders import a_customer_row, a_payment_row, a_ticket_row, an_invoice_row, an_order_row, ndjson, tag

SERVICES = ("customer", "ticketing", "campaigns")

Rows = list[dict[str, Any]]


def depending_on_earlier_batches(t: str) -> Rows:
    return [
        a_customer_row(f"A{t}", email=f"a{t}@example.com"),
        an_order_row(f"O{t}", f"A{t}"),
        an_invoice_row(f"I{t}", f"O{t}"),
        a_customer_row(f"B{t}", email=f"b{t}@example.com", phone="+905551230000"),
        a_payment_row(f"P{t}", f"I{t}", amount="5.00"),
        an_order_row(f"O{t}", f"A{t}", status="shipped", status_at="2019-05-03T09:30:00Z"),
        a_payment_row(f"Q{t}", f"I{t}", amount="15.00", occurred_at="2019-05-21T10:00:00Z"),
        # B moves to a new email and phone: the old ones are free again, the new ones are B's.
        a_customer_row(f"B{t}", email=f"b2{t}@example.com", phone="+905551239999", name="Ayşe B. Two"),
        a_customer_row(f"C{t}", email=f"b{t}@example.com"),  # B's old email: a new customer
        a_customer_row(f"D{t}", email=f"B2{t}@Example.com"),  # B's new email: linked to B
        an_order_row(f"R{t}", f"D{t}"),
        an_order_row(f"O{t}", f"A{t}", status="delivered", status_at="2019-05-06T12:00:00Z"),
        a_ticket_row(f"T{t}", f"C{t}"),
        a_customer_row(f"E{t}", email=f"e{t}@example.com", phone="+905551239999"),  # B's new phone: refused
    ]


async def databases(make_database: Callable[..., Awaitable[str]]) -> dict[str, str]:
    return {s: await make_database(s) for s in SERVICES}


def settings_of(dsns: dict[str, str]) -> dict[str, ServiceSettings]:
    return {s: load_service(s).settings_factory().model_copy(update={"database_url": dsn})
            for s, dsn in dsns.items()}


async def run(dsns: dict[str, str], rows: Rows, batch_size: int) -> tuple[ImportSummary, list[dict[str, Any]]]:
    importers = await open_local_importers(settings_of(dsns))
    rejects: list[dict[str, Any]] = []

    class Sink:
        def write(self, data: bytes) -> int:
            rejects.extend(orjson.loads(line) for line in data.splitlines())
            return len(data)

        def flush(self) -> None:
            return None

    try:
        summary = await run_import([Source("f", ndjson(rows).splitlines(keepends=True))], importers,
                                   importers["customer"], rejects=Sink(),  # type: ignore[arg-type]
                                   batch_size=batch_size)
    finally:
        for importer in importers.values():
            await importer.close()
    return summary, rejects


STATE = {
    "events": "select stream_id, version, event_type, occurred_at from events order by stream_id, version",
    "outbox": "select count(*) from outbox",
    "customers": "select id, email, phone, version, merged_into from customers order by id",
    "orders": "select id, customer_id, status, version, shipped_at, delivered_at from orders order by id",
    "invoices": "select id, paid, version from invoices order by id",
    "ledger": "select kind, source_id, entity_id, customer_id, fingerprint, outcome from import_ledger"
              " order by kind, source_id",
}


async def state(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    conn = await connect(dsn)
    try:
        found: dict[str, list[tuple[Any, ...]]] = {}
        for name, sql in STATE.items():
            try:
                found[name] = [tuple(r) for r in await conn.fetch(sql)]
            except asyncpg.UndefinedTableError:
                found[name] = []
        return found
    finally:
        await conn.close()


@pytest.mark.parametrize("batch_size", [1, 2, 3])
async def test_batches_built_on_unwritten_batches_equal_one_batch(
    make_database: Callable[..., Awaitable[str]], batch_size: int
) -> None:
    rows = depending_on_earlier_batches(tag())
    one, many = await databases(make_database), await databases(make_database)
    whole, whole_rejects = await run(one, rows, batch_size=len(rows))
    split, split_rejects = await run(many, rows, batch_size=batch_size)
    assert [r["line"] for r in split_rejects] == [r["line"] for r in whole_rejects] == [14]
    assert "phone" in split_rejects[0]["reason"]
    assert split.as_dict() == whole.as_dict()
    assert split.by_service["customer"].linked == 1
    for service in SERVICES:
        assert await state(many[service]) == await state(one[service]), service
    emails = [r[1] for r in (await state(many["customer"]))["customers"]]
    assert sorted(emails) == sorted(f"{x}{rows[0]['source_id'][1:]}@example.com" for x in ("a", "b2", "b"))


async def test_a_batch_whose_predecessor_lost_a_race_is_decided_again_from_the_database(
    make_database: Callable[..., Awaitable[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = depending_on_earlier_batches(tag())
    one, many = await databases(make_database), await databases(make_database)
    await run(one, rows, batch_size=len(rows))
    write = customer_importing._write
    lost: list[int] = []

    async def losing_once(conn: asyncpg.Connection, store: Any, batch: Any) -> int:
        if not lost:  # the first batch's write loses a race: it goes again, record by record
            lost.append(1)
            raise ConcurrencyConflict("a live writer got there first")
        return await write(conn, store, batch)

    monkeypatch.setattr(customer_importing, "_write", losing_once)
    await run(many, rows, batch_size=2)
    assert lost == [1]
    for service in SERVICES:
        assert await state(many[service]) == await state(one[service]), service
