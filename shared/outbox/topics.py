"""Idempotent Kafka topic provisioning (kafka-python's admin client).

The broker runs with ``auto.create.topics.enable=false`` so a typo in a topic name fails loudly
instead of silently creating an orphan topic; every topic is created here, on purpose, with its
partition count and retention. Event topics keep events forever (they are the shared history);
dead-letter topics are bounded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from shared.settings import PlatformSettings

log = logging.getLogger(__name__)

EVENT_TOPICS = ("customer.events", "ticketing.events", "campaigns.events", "analytics.events")
MESSAGE_TOPICS = ("campaigns.messages",)
DLQ_SUFFIX = ".dlq"


def dlq_of(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return f"{topic}{DLQ_SUFFIX}"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int = 1
    config: dict[str, str] = field(default_factory=dict)


def platform_topics(settings: PlatformSettings) -> list[TopicSpec]:
    """Every topic of the platform, with the physical names of ``settings`` (prefix applied)."""
    common = {"min.insync.replicas": str(settings.kafka_min_insync_replicas)}
    keep_forever = {**common, "retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
    bounded = {**common, "retention.ms": str(settings.kafka_dlq_retention_ms), "cleanup.policy": "delete"}
    specs: list[TopicSpec] = []
    for name in EVENT_TOPICS + MESSAGE_TOPICS:
        specs.append(TopicSpec(settings.topic(name), settings.kafka_topic_partitions,
                               settings.kafka_replication_factor, keep_forever))
        specs.append(TopicSpec(settings.topic(dlq_of(name)), settings.kafka_topic_partitions,
                               settings.kafka_replication_factor, bounded))
    return specs


def ensure_topics(bootstrap_servers: str, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet; return the names created. Safe to re-run."""
    specs = list(specs)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="c360-topics")
    try:
        existing = set(admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        created: list[str] = []
        for spec in missing:
            try:
                admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, spec.replication_factor, topic_configs=spec.config)],
                    timeout_ms=30_000,
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
        if created:
            log.info("created topics", extra={"topics": created})
        return created
    finally:
        admin.close()


def describe_partitions(bootstrap_servers: str, topic: str) -> int:
    """The number of partitions of ``topic`` as the broker reports it."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="c360-topics")
    try:
        (description,) = admin.describe_topics([topic])
        return len(description["partitions"])
    finally:
        admin.close()


def delete_topics(bootstrap_servers: str, prefix: str) -> None:
    """Delete every topic whose name starts with ``prefix`` (test clean-up)."""
    if not prefix:
        raise ValueError("refusing to delete topics without a prefix")
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="c360-topics")
    try:
        doomed = [t for t in admin.list_topics() if t.startswith(prefix)]
        if doomed:
            admin.delete_topics(doomed, timeout_ms=30_000)
    finally:
        admin.close()
