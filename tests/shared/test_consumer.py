"""The consumer kit against real Kafka and PostgreSQL: idempotent, batched, dead-lettering."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal

import asyncpg
import orjson
from kafka import KafkaProducer

from shared.consuming.consumer import (
    BatchProcessor,
    RawRecord,
    ReceivedEvent,
    apply_records,
    record_for,
    wanted_types,
)
from shared.consuming.streams import ProjectionWorker
from shared.events.catalog import ce_type_for
from shared.events.envelope import new_envelope, to_kafka
from shared.settings import PlatformSettings
from shared.store.db import create_pool
from shared.testing.kafka import read_topic
from shared.testing.waiting import eventually
from tests.shared.sample_events import TEST_CATALOG, ThingHappened


class TotalsProjector:
    """Sums amounts per customer: any double application shows as a wrong total."""

    name = "totals"

    async def apply(self, conn: asyncpg.Connection, events: Sequence[ReceivedEvent]) -> None:
        await conn.executemany(
            """insert into totals (customer_id, total, events) values ($1, $2, 1)
               on conflict (customer_id) do update set total = totals.total + excluded.total,
               events = totals.events + 1""",
            [(e.subject, e.event.amount) for e in events],  # type: ignore[attr-defined]
        )


async def totals_table(pool: asyncpg.Pool) -> None:
    await pool.execute("create table totals (customer_id text primary key, total numeric not null, events int)")


async def totals(pool: asyncpg.Pool) -> dict[str, tuple[Decimal, int]]:
    rows = await pool.fetch("select customer_id, total, events from totals")
    return {r["customer_id"]: (r["total"], r["events"]) for r in rows}


def thing(customer: str, amount: str) -> RawRecord:
    env = new_envelope(ThingHappened(customer_id=customer, amount=Decimal(amount)), service="testing",
                       subject=customer)
    return record_for(env, topic="things")


async def test_redelivered_events_are_applied_once(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn)
    try:
        await totals_table(pool)
        records = [thing("a", "10.00"), thing("a", "5.50"), thing("b", "1.00")]
        await apply_records(pool, TotalsProjector(), records, catalog=TEST_CATALOG)
        await apply_records(pool, TotalsProjector(), records + records[:1], catalog=TEST_CATALOG)
        assert await totals(pool) == {"a": (Decimal("15.50"), 2), "b": (Decimal("1.00"), 1)}
    finally:
        await pool.close()


async def test_poison_records_are_dead_lettered_with_a_reason_and_the_rest_applied(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn)
    try:
        await totals_table(pool)
        good = thing("a", "1.00")
        key, value, headers = good.key, good.value, list(good.headers)

        def with_type(t: str) -> list[tuple[str, bytes]]:
            return [(k, (t.encode() if k == "ce_type" else v)) for k, v in headers]

        poison = [
            RawRecord("things", 0, 1, key, b"{not json", headers),
            RawRecord("things", 0, 2, key, b'{"customer_id": 5, "amount": "x"}', headers),
            RawRecord("things", 0, 3, key, value, with_type(ce_type_for("testing", "NoSuchThing", 1))),
            RawRecord("things", 0, 4, key, value, with_type(ce_type_for("testing", "ThingHappened", 9))),
            RawRecord("things", 0, 5, key, value, [h for h in headers if h[0] != "ce_id"]),
        ]
        dead = await apply_records(pool, TotalsProjector(), [*poison, good], catalog=TEST_CATALOG)
        assert sorted((r.offset, reason) for r, reason, _ in dead) == [
            (1, "invalid_json"), (2, "invalid_data"), (3, "unknown_type"), (4, "unknown_version"),
            (5, "missing_headers"),
        ]
        assert await totals(pool) == {"a": (Decimal("1.00"), 1)}
    finally:
        await pool.close()


async def test_an_event_the_projector_cannot_apply_is_isolated_and_dead_lettered(fresh_dsn: str) -> None:
    class Picky(TotalsProjector):
        async def apply(self, conn: asyncpg.Connection, events: Sequence[ReceivedEvent]) -> None:
            if any(e.event.amount < 0 for e in events):  # type: ignore[attr-defined]
                raise ValueError("negative amounts are not allowed")
            await super().apply(conn, events)

    pool = await create_pool(fresh_dsn)
    try:
        await totals_table(pool)
        dead = await apply_records(pool, Picky(), [thing("a", "2.00"), thing("a", "-1.00"), thing("b", "3.00")],
                                   catalog=TEST_CATALOG)
        assert [reason for _, reason, _ in dead] == ["apply_failed"]
        assert await totals(pool) == {"a": (Decimal("2.00"), 1), "b": (Decimal("3.00"), 1)}
    finally:
        await pool.close()


async def test_faust_worker_applies_from_a_real_topic_and_dead_letters_poison(
    fresh_dsn: str, platform_settings: PlatformSettings, make_topics: Callable[..., list[str]], kafka_bootstrap: str
) -> None:
    topic, dlq = make_topics("things", "things.dlq", partitions=2)
    pool = await create_pool(fresh_dsn)
    await totals_table(pool)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for n in range(200):
        customer = f"c{n % 7}"
        key, value, headers = to_kafka(new_envelope(ThingHappened(customer_id=customer, amount=Decimal("1.00")),
                                                    service="testing", subject=customer))
        producer.send(topic, key=key, value=value, headers=headers)
        if n == 100:
            producer.send(topic, key=b"c1", value=b"\x00garbage", headers=[("ce_specversion", b"1.0")])
    producer.flush()
    producer.close()
    worker = ProjectionWorker(settings=platform_settings, dsn=fresh_dsn, projector=TotalsProjector(),
                              topics=["things"], catalog=TEST_CATALOG)
    await worker.start()
    try:
        async def applied() -> int:
            return int(await pool.fetchval("select coalesce(sum(events), 0) from totals"))

        assert await eventually(applied, until=lambda n: n == 200, timeout=60) == 200
        dead = await asyncio.to_thread(read_topic, kafka_bootstrap, dlq, expected=1)
        assert len(dead) == 1
        assert dead[0].headers["dlq_reason"] == "missing_headers"
        assert dead[0].headers["dlq_original_topic"] == topic
        assert dead[0].raw_value == b"\x00garbage"
    finally:
        await worker.stop()
        await pool.close()


async def test_sealed_personal_fields_read_as_none_without_a_key_provider(fresh_dsn: str) -> None:
    from shared.shredding import encrypt_fields
    from tests.shared.sample_events import PersonRenamed

    seen: list[object] = []

    class Names:
        name = "names"

        async def apply(self, conn: asyncpg.Connection, events: Sequence[ReceivedEvent]) -> None:
            seen.extend(e.event for e in events)

    event = PersonRenamed(customer_id="p1", given_name="Ada", family_name="Lovelace")
    env = new_envelope(event, service="testing", subject="p1")
    sealed = encrypt_fields(event.model_dump(mode="json"), event.personal_fields(), bytes(32), "p1")


    record = record_for(replace(env, data=orjson.dumps(sealed)))
    pool = await create_pool(fresh_dsn)
    try:
        assert await apply_records(pool, Names(), [record], catalog=TEST_CATALOG) == []
    finally:
        await pool.close()
    (applied,) = seen
    assert applied.given_name is None and applied.family_name is None  # type: ignore[attr-defined]
    assert applied.customer_id == "p1"  # type: ignore[attr-defined]


def test_only_records_whose_json_could_spell_the_sealed_prefix_are_searched_for_sealed_fields() -> None:
    from shared.consuming.consumer import _may_be_sealed

    assert not _may_be_sealed(orjson.dumps({"customer_id": "c1", "name": "Ann", "total": "10.00"}))
    assert _may_be_sealed(orjson.dumps({"name": "enc:v1:AAAA"}))
    escaped = b'{"name": "\\u0065nc:v1:AAAA"}'  # valid JSON for the same text, written by another producer
    assert orjson.loads(escaped)["name"].startswith("enc:v1:") and _may_be_sealed(escaped)
    assert _may_be_sealed(None)


async def test_records_of_types_the_projector_does_not_act_on_are_passed_over_undecoded(fresh_dsn: str) -> None:
    class OnlyThings(TotalsProjector):
        event_types = frozenset({"ThingHappened"})

    pool = await create_pool(fresh_dsn)
    try:
        await totals_table(pool)
        good = thing("a", "4.00")
        headers = list(good.headers)

        def typed(t: str) -> list[tuple[str, bytes]]:
            return [(k, (t.encode() if k == "ce_type" else v)) for k, v in headers]

        other = ce_type_for("testing", "SomethingElseHappened", 1)
        records = [
            RawRecord("things", 0, 1, good.key, b"{not json", typed(other)),  # not ours: never decoded
            RawRecord("things", 0, 2, good.key, good.value, typed(other)),
            RawRecord("things", 0, 3, good.key, b"{not json", headers),  # ours, and poison
            RawRecord("things", 0, 4, good.key, good.value, [h for h in headers if h[0] != "ce_type"]),
            RawRecord("things", 0, 5, good.key, good.value, typed("not.a.type")),
            good,
        ]
        dead: list[tuple[int, str]] = []

        async def sink(record: RawRecord, reason: str, detail: str) -> None:
            dead.append((record.offset, reason))

        processor = BatchProcessor(pool=pool, projector=OnlyThings(), dead_letter=sink, catalog=TEST_CATALOG)
        await processor.process(records)
        assert processor.stats.passed_over == 2
        assert sorted(dead) == [(3, "invalid_json"), (4, "missing_headers"), (5, "unknown_type")]
        assert await totals(pool) == {"a": (Decimal("4.00"), 1)}
        assert await pool.fetchval("select count(*) from inbox") == 1  # nothing passed over was recorded
        assert wanted_types(TotalsProjector()) is None  # without a declaration, every type is decoded
    finally:
        await pool.close()
