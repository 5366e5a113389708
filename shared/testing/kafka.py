"""Reading and writing real topics and draining real outboxes from tests and benchmarks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from shared.outbox.relay import make_relay_producer, publish_pending
from shared.settings import PlatformSettings
from shared.store.db import connect


def make_producer(bootstrap_servers: str, **overrides: Any) -> KafkaProducer:
    """A blocking kafka-python producer with the relay's guarantees, for tests and benchmarks that publish.

    Not for the platform's own processes: those publish through the relay's aiokafka producer
    (``shared.outbox.relay.make_relay_producer``); a blocking client must not run inside an event loop.
    """
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers.split(","),
        "acks": "all",
        "enable_idempotence": True,
        "max_in_flight_requests_per_connection": 5,
        "linger_ms": 2,
        "batch_size": 256 * 1024,
        "max_request_size": 4 * 1024 * 1024,
        "request_timeout_ms": 15_000,
        "retries": 2_147_483_647,
        "max_block_ms": 10_000,
        "client_id": "c360-tools",
    }
    config.update(overrides)
    return KafkaProducer(**config)



@dataclass(frozen=True)
class ConsumedRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: Any
    raw_value: bytes
    headers: dict[str, str]


def read_topic(
    bootstrap: str, topic: str, *, expected: int, timeout: float = 20.0, from_beginning: bool = True
) -> list[ConsumedRecord]:
    """Read ``topic`` (all partitions, no consumer group) until ``expected`` records arrived.

    Returns early with what was read when the timeout passes, so the caller's assertion shows
    what was missing. Values are JSON-decoded when possible.
    """
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False,
                             consumer_timeout_ms=500)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        deadline = time.monotonic() + timeout
        while not partitions and time.monotonic() < deadline:
            time.sleep(0.1)
            partitions = consumer.partitions_for_topic(topic) or set()
        assignment = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assignment)
        if from_beginning:
            consumer.seek_to_beginning(*assignment)
        records: list[ConsumedRecord] = []
        while len(records) < expected and time.monotonic() < deadline:
            records += _decoded(consumer.poll(timeout_ms=200))
        return records
    finally:
        consumer.close()


def read_whole_topic(bootstrap: str, topic: str, *, timeout: float = 30.0) -> list[ConsumedRecord]:
    """Every record on ``topic`` up to its end offsets as of the call, duplicates included.

    For "is every committed event on the topic?" checks: delivery is at least once, so a count of
    records says nothing about which events arrived; reading up to the end does. Raises
    ``TimeoutError`` when the end is not reached in ``timeout`` seconds.
    """
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False)
    try:
        assignment = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or set())]
        consumer.assign(assignment)
        consumer.seek_to_beginning(*assignment)
        ends = consumer.end_offsets(assignment)
        deadline = time.monotonic() + timeout
        records: list[ConsumedRecord] = []
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: read {len(records)} records, not at the end after {timeout}s")
            records += _decoded(consumer.poll(timeout_ms=200))
        return records
    finally:
        consumer.close()


def _decoded(batch: dict[TopicPartition, list[Any]]) -> list[ConsumedRecord]:
    records = []
    for messages in batch.values():
        for m in messages:
            try:
                value = orjson.loads(m.value) if m.value is not None else None
            except orjson.JSONDecodeError:
                value = None
            records.append(ConsumedRecord(
                topic=m.topic, partition=m.partition, offset=m.offset, key=m.key, value=value,
                raw_value=m.value or b"",
                headers={k: (v.decode(errors="replace") if v is not None else "") for k, v in m.headers},
            ))
    return records


def end_offsets(bootstrap: str, topic: str) -> int:
    """Total number of records ever written to ``topic`` (sum of partition end offsets)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","))
    try:
        partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


async def drain_outbox(dsn: str, settings: PlatformSettings | str) -> int:
    """Publish everything in the database's outbox to the real broker; return how many."""
    bootstrap = settings if isinstance(settings, str) else settings.kafka_bootstrap_servers
    producer = make_relay_producer(bootstrap)
    await producer.start()
    conn = await connect(dsn)
    total = 0
    try:
        while published := await publish_pending(conn, producer):
            total += published
    finally:
        await conn.close()
        await producer.stop()
    return total
