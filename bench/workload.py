"""Realistic analytics traffic for the projection benchmarks: real contract events as Kafka records.

The history is the analytics tests' generated one (about twelve events per customer across the three
domains: registrations, orders and their fates, overdue payments, complaints, surveys, offers,
erasures), ordered by time as the producing services would publish it, and encoded with the one
codec into the records a worker reads from ``customer.events``, ``ticketing.events`` and
``campaigns.events``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from bench.setup import Scratch
from services.analytics.domain.model import Fact
from shared.consuming.consumer import RawRecord
from tests.analytics.builders import generated_history
from tests.analytics.integration.support import records

EVENTS_PER_CUSTOMER = 12


@dataclass(frozen=True, slots=True)
class Workload:
    """Records in publication order, and how many customers they are about."""

    records: list[RawRecord]
    customers: list[str]

    def __len__(self) -> int:
        return len(self.records)


def history_for(events: int, seed: int = 7) -> list[Fact]:
    """About ``events`` facts (whole customers), ordered by time across customers."""
    facts = generated_history(max(1, events // EVENTS_PER_CUSTOMER), seed=seed)
    facts.sort(key=lambda f: f.at)
    return facts


def workload(events: int, *, prefix: str = "", seed: int = 7) -> Workload:
    """Records for ``events`` events (approximately), topics named with ``prefix``."""
    facts = history_for(events, seed)
    customers = sorted({f.origin for f in facts})
    return Workload(records(facts, prefix), customers)


def analytics_topics(scratch: Scratch) -> list[str]:
    """Create what an analytics projector reads and writes in ``scratch``; return the topics it reads."""
    from services.analytics.consumers.projector import CONSUMED_TOPICS

    consumed = [scratch.topic(name) for name in CONSUMED_TOPICS]
    for name in CONSUMED_TOPICS:
        scratch.topic(f"{name}.dlq")
    scratch.topic("analytics.events")
    return consumed


def produce(bootstrap: str, items: list[RawRecord]) -> None:
    """Write the records to their topics (blocking: run it in a thread), keyed by customer."""
    from kafka import KafkaProducer

    from bench.report import Progress

    producer = KafkaProducer(bootstrap_servers=bootstrap.split(","), linger_ms=20, batch_size=512 * 1024,
                             acks=1, max_request_size=8 * 1024 * 1024)
    for record in Progress.bar(items, desc="produce", unit="ev"):
        producer.send(record.topic, key=record.key, value=record.value, headers=list(record.headers))
    producer.flush()
    producer.close()


def chunks(items: list[RawRecord], size: int) -> Iterator[list[RawRecord]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def shuffled_customers(customers: list[str], seed: int = 11) -> list[str]:
    ordered = list(customers)
    random.Random(seed).shuffle(ordered)
    return ordered
