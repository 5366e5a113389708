"""Smoke tests proving the infrastructure under the suite is real: a broker and a server answer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import asyncpg
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from shared.outbox.topics import TopicSpec, describe_partitions, ensure_topics


def test_kafka_round_trip_keeps_keys_headers_and_partition_order(
    kafka_bootstrap: str, make_topics: Callable[..., list[str]]
) -> None:
    (topic,) = make_topics("roundtrip", partitions=3)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for n in range(30):
        producer.send(topic, key=f"k{n % 3}".encode(), value=f"v{n}".encode(), headers=[("n", str(n).encode())])
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in range(3)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    received = []
    while len(received) < 30:
        for messages in consumer.poll(timeout_ms=5000).values():
            received.extend(messages)
    consumer.close()
    by_key: dict[bytes, list[int]] = {}
    for m in received:
        assert dict(m.headers)["n"] == m.value[1:]
        by_key.setdefault(m.key, []).append(int(m.value[1:]))
    assert {len({m.partition for m in received if m.key == k}) for k in by_key} == {1}
    assert all(values == sorted(values) for values in by_key.values())
    assert sorted(v for values in by_key.values() for v in values) == list(range(30))


def test_topics_are_created_with_the_requested_partitions_and_retention(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    name = f"{topic_prefix}partitioned"
    assert ensure_topics(kafka_bootstrap, [TopicSpec(name, 5, 1, {"retention.ms": "-1"})]) == [name]
    assert ensure_topics(kafka_bootstrap, [TopicSpec(name, 5, 1)]) == []  # idempotent
    assert describe_partitions(kafka_bootstrap, name) == 5
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        assert name in admin.list_topics()
    finally:
        admin.close()


def test_the_broker_refuses_to_auto_create_topics(kafka_bootstrap: str, topic_prefix: str) -> None:
    name = f"{topic_prefix}never-created-{uuid.uuid4().hex}"
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        assert not consumer.partitions_for_topic(name)  # asking for metadata must not create it
        assert name not in admin.list_topics()
    finally:
        consumer.close()
        admin.close()


async def test_postgres_is_a_real_server_with_transactions_and_notify(fresh_dsn: str) -> None:
    conn = await asyncpg.connect(fresh_dsn)
    listener = await asyncpg.connect(fresh_dsn)
    try:
        version = await conn.fetchval("show server_version_num")
        assert int(version) >= 140000
        heard: asyncio.Queue[str] = asyncio.Queue()
        await listener.add_listener("outbox", lambda *args: heard.put_nowait(args[2]))
        await conn.execute(
            "insert into outbox (topic, key, headers, payload) values ('t', null, '{}'::jsonb, '\\x7b7d')"
        )
        assert await asyncio.wait_for(heard.get(), timeout=10) == "outbox"
    finally:
        await conn.close()
        await listener.close()
