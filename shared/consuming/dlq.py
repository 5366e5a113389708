"""Inspect and replay dead-letter topics.

A record lands on ``<topic>.dlq`` with ``dlq_*`` headers saying why (see ``shared.consuming.consumer``). After
the cause is fixed (a consumer bug, a missing upcaster), ``replay`` republishes the records to their
original topic with the ``dlq_*`` headers removed. Replaying is safe to repeat: consumers deduplicate
by event id. A consumer group per dead-letter topic remembers how far a replay got, so a second
replay only takes what arrived since; ``--from-beginning`` takes everything again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

REPLAY_GROUP_PREFIX = "c360-dlq-replay."


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]

    @property
    def reason(self) -> str:
        return self.header("dlq_reason")

    @property
    def original_topic(self) -> str:
        return self.header("dlq_original_topic")

    def header(self, name: str) -> str:
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace")
        return ""


def _consumer(bootstrap: str, group: str | None) -> KafkaConsumer:
    return KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=group, enable_auto_commit=False,
                         auto_offset_reset="earliest", consumer_timeout_ms=1500)


def read_dead_letters(bootstrap: str, dlq_topic: str) -> list[DeadLetter]:
    """Every record on ``dlq_topic``, oldest first per partition."""
    consumer = _consumer(bootstrap, None)
    try:
        return [letter for letter in _drain(consumer, dlq_topic, from_beginning=True)]
    finally:
        consumer.close()


def _drain(consumer: KafkaConsumer, dlq_topic: str, *, from_beginning: bool) -> Iterator[DeadLetter]:
    partitions = [TopicPartition(dlq_topic, p) for p in sorted(consumer.partitions_for_topic(dlq_topic) or [])]
    if not partitions:
        raise LookupError(f"no such topic: {dlq_topic}")
    consumer.assign(partitions)
    if from_beginning:
        consumer.seek_to_beginning(*partitions)
    for message in consumer:
        yield DeadLetter(message.partition, message.offset, message.key, message.value or b"", list(message.headers))


def replay(bootstrap: str, dlq_topic: str, *, reason: str | None = None, dry_run: bool = False,
           from_beginning: bool = False) -> tuple[int, int]:
    """Republish dead letters (optionally only one ``reason``); returns (replayed, skipped)."""
    consumer = _consumer(bootstrap, REPLAY_GROUP_PREFIX + dlq_topic)
    producer = None if dry_run else KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all",
                                                  enable_idempotence=True)
    replayed = skipped = 0
    try:
        for letter in _drain(consumer, dlq_topic, from_beginning=from_beginning):
            if reason and letter.reason != reason:
                skipped += 1
                continue
            if producer is not None:
                target = letter.original_topic or dlq_topic.removesuffix(".dlq")
                headers = [(k, v) for k, v in letter.headers if not k.startswith("dlq_")]
                producer.send(target, key=letter.key, value=letter.value, headers=headers)
            replayed += 1
        if producer is not None:
            producer.flush()
            consumer.commit()  # remember how far this replay got
    finally:
        consumer.close()
        if producer is not None:
            producer.close()
    return replayed, skipped
