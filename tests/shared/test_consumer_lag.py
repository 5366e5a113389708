"""consumer_lag{group,topic,partition} measured from a real broker: real records, a real consumer
group committing real offsets, the gauge rising while the group falls behind and falling as it
catches up; a lag that cannot be measured is a warning and a counter, never silence."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata
from prometheus_client import CollectorRegistry

from shared.ops.metrics import create_registry
from shared.ops.observability import consumer_lag_refresher
from shared.settings import ServiceSettings
from shared.testing.waiting import eventually
from shared.web import create_service_app

PARTITIONS = 2


class LagProbeSettings(ServiceSettings):
    service_name = "lagprobe"


def produce(bootstrap: str, topic: str, per_partition: int) -> None:
    """``per_partition`` records on each partition of ``topic``, acknowledged by the broker."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for n in range(per_partition):
            for partition in range(PARTITIONS):
                producer.send(topic, value=f"record-{n}".encode(), partition=partition)
        producer.flush()
    finally:
        producer.close()


class Group:
    """A real consumer of ``topic`` in group ``group_id`` that commits only what the test says."""

    def __init__(self, bootstrap: str, group_id: str, topic: str) -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        self.partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        self.consumer.assign(self.partitions)
        self.seen: dict[TopicPartition, list[int]] = {tp: [] for tp in self.partitions}

    def consume(self, count: int) -> None:
        """Read ``count`` more records (blocking, bounded by the poll loop's own deadline)."""
        wanted = sum(map(len, self.seen.values())) + count
        for _ in range(200):
            for tp, records in self.consumer.poll(timeout_ms=100).items():
                self.seen[tp].extend(r.offset for r in records)
            if sum(map(len, self.seen.values())) >= wanted:
                return
        raise AssertionError(f"consumed {sum(map(len, self.seen.values()))} of {wanted} records")

    def commit_through(self, index: int) -> None:
        """Commit, on every partition, the position after the ``index``-th record read there (1-based)."""
        self.consumer.commit(
            {tp: OffsetAndMetadata(self.seen[tp][index - 1] + 1, "", -1) for tp in self.partitions}
        )

    def close(self) -> None:
        self.consumer.close(autocommit=False)


def lag_of(registry: CollectorRegistry, group: str, topic: str) -> dict[int, float | None]:
    return {
        p: registry.get_sample_value("consumer_lag", {"group": group, "topic": topic, "partition": str(p)})
        for p in range(PARTITIONS)
    }


async def test_the_lag_gauge_rises_while_a_group_falls_behind_and_falls_as_it_catches_up(
    kafka_bootstrap: str, topic_prefix: str, make_topics: Callable[..., list[str]]
) -> None:
    (topic,) = make_topics("orders", partitions=PARTITIONS)
    group_id = f"{topic_prefix}lag-projector"
    registry = create_registry(process_metrics=False)
    app = SimpleNamespace(state=SimpleNamespace(metrics_registry=registry))
    refresh = consumer_lag_refresher(kafka_bootstrap, [group_id], ttl=0)

    async def measured() -> dict[int, float | None]:
        await refresh(app)
        return lag_of(registry, group_id, topic)

    group = await asyncio.to_thread(Group, kafka_bootstrap, group_id, topic)
    try:
        # Caught up: everything produced so far is read and committed.
        await asyncio.to_thread(produce, kafka_bootstrap, topic, 3)
        await asyncio.to_thread(group.consume, 3 * PARTITIONS)
        await asyncio.to_thread(group.commit_through, 3)
        await eventually(measured, until=lambda lag: lag == {0: 0, 1: 0}, message="no lag once caught up")

        # Falling behind: five new records per partition, nothing committed.
        await asyncio.to_thread(produce, kafka_bootstrap, topic, 5)
        await eventually(measured, until=lambda lag: lag == {0: 5, 1: 5}, message="lag rises to 5 per partition")

        # Catching up: read them all, commit two per partition, then the rest.
        await asyncio.to_thread(group.consume, 5 * PARTITIONS)
        await asyncio.to_thread(group.commit_through, 3 + 2)
        await eventually(measured, until=lambda lag: lag == {0: 3, 1: 3}, message="lag falls to 3 per partition")
        await asyncio.to_thread(group.commit_through, 3 + 5)
        await eventually(measured, until=lambda lag: lag == {0: 0, 1: 0}, message="lag falls back to 0")
    finally:
        await asyncio.to_thread(group.close)
    assert registry.get_sample_value("consumer_lag_errors_total") == 0


async def test_a_service_app_reports_the_lag_of_its_consumer_groups_on_metrics(
    kafka_bootstrap: str, topic_prefix: str, make_topics: Callable[..., list[str]]
) -> None:
    (topic,) = make_topics("tickets", partitions=PARTITIONS)
    await asyncio.to_thread(produce, kafka_bootstrap, topic, 4)
    group = await asyncio.to_thread(Group, kafka_bootstrap, f"{topic_prefix}replica", topic)
    try:
        await asyncio.to_thread(group.consume, 4 * PARTITIONS)
        await asyncio.to_thread(group.commit_through, 1)
    finally:
        await asyncio.to_thread(group.close)

    settings = LagProbeSettings(environment="test", database_url="postgresql://unused@127.0.0.1/unused",
                                kafka_bootstrap_servers=kafka_bootstrap, kafka_topic_prefix=topic_prefix)
    # A logical group name, as services pass it: the app applies the topic prefix.
    app = create_service_app(settings=settings, title="lag probe", description="lag probe", version="1",
                             routers=[], lifespan=None, readiness={}, consumer_groups=["replica"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe") as client:
        text = (await client.get("/metrics")).text
    for partition in range(PARTITIONS):
        line = f'consumer_lag{{group="{topic_prefix}replica",partition="{partition}",topic="{topic}"}} 3.0'
        assert line in text.splitlines(), text
    assert "consumer_lag_errors_total 0.0" in text.splitlines()


def a_closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_a_lag_that_cannot_be_measured_is_a_warning_and_a_counter(caplog: pytest.LogCaptureFixture) -> None:
    registry = create_registry(process_metrics=False)
    app: Any = SimpleNamespace(state=SimpleNamespace(metrics_registry=registry))
    refresh = consumer_lag_refresher(f"127.0.0.1:{a_closed_port()}", ["c360.some-projector"], ttl=0, timeout=0.5)

    with caplog.at_level(logging.WARNING, logger="shared.ops.observability"):
        await refresh(app)
        await refresh(app)

    assert registry.get_sample_value("consumer_lag_errors_total") == 2
    warnings = [r for r in caplog.records if r.name == "shared.ops.observability" and r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "consumer lag could not be measured" in warnings[0].getMessage()
    assert warnings[0].__dict__["groups"] == ["c360.some-projector"]
