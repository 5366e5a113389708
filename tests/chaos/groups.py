"""Consumer groups of a test platform, looked at and rewound by hand (blocking: kafka-python 3 admin)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import OffsetSpec


@contextmanager
def _admin(bootstrap: str) -> Iterator[KafkaAdminClient]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        yield admin
    finally:
        admin.close()


def platform_groups(bootstrap: str, prefix: str) -> list[str]:
    """Consumer groups whose id starts with the platform's topic prefix (one per projector)."""
    with _admin(bootstrap) as admin:
        return sorted(g["group_id"] for g in admin.list_groups() if g["group_id"].startswith(prefix))


def committed(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    """The group's committed offset per partition."""
    with _admin(bootstrap) as admin:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
        return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


def lag(bootstrap: str, group: str) -> int:
    """Records on the group's partitions it has not committed yet (-1 before its first commit)."""
    offsets = committed(bootstrap, group)
    if not offsets:
        return -1
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        ends = consumer.end_offsets(list(offsets))
        return sum(max(0, ends[tp] - offset) for tp, offset in offsets.items())
    finally:
        consumer.close()


def members(bootstrap: str, group: str) -> int:
    """How many consumers are in the group right now."""
    with _admin(bootstrap) as admin:
        return len(admin.describe_groups([group])[group].get("members") or [])


def state(bootstrap: str, group: str) -> str:
    """The group's state as the coordinator reports it (``Stable``, ``PreparingRebalance``, ...)."""
    with _admin(bootstrap) as admin:
        return str(admin.describe_groups([group])[group].get("group_state"))


def rewind_to_beginning(bootstrap: str, group: str) -> int:
    """Move the group's committed offsets back to the start of every partition; return how many
    records it will therefore receive a second time.

    The group must be empty (its workers stopped): Kafka refuses to reset a group with members.
    """
    before = committed(bootstrap, group)
    with _admin(bootstrap) as admin:
        admin.reset_group_offsets(group, {tp: OffsetSpec.EARLIEST for tp in before})
    after = committed(bootstrap, group)
    return sum(before[tp] - after.get(tp, 0) for tp in before)
