"""The event platform's own Prometheus instruments: event store, outbox, relay, consumers.

Not part of the web kit: relays and workers record into them without any HTTP app (their registry
is ``shared.ops.observability.process_metrics()``), APIs into their app's registry. Every process or
app owns its ``CollectorRegistry`` instead of the process-wide default: tests build hundreds of apps
in one process, and the default registry refuses a second ``events_appended_total``. Instruments are
created once per registry and cached, so asking twice returns the same objects rather than failing.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class PlatformMetrics:
    """Instruments of the event platform; the event store, relay and consumers record into them.

    - ``events_appended`` (``events_appended_total{event_type}``): events committed to the store.
    - ``outbox_backlog`` (``outbox_backlog``): outbox rows not yet published.
    - ``outbox_oldest_age`` (``outbox_oldest_age_seconds``): age of the oldest unpublished row; the
      alert that catches a stuck relay even when the backlog is small.
    - ``relay_published`` (``relay_published_total{topic}``): events the relay got acknowledged.
    - ``relay_errors`` (``relay_errors_total``): relay retries after a database or broker failure.
    - ``consumer_lag`` (``consumer_lag{group,topic,partition}``): messages behind the log end.
    - ``consumer_lag_errors`` (``consumer_lag_errors_total``): lag measurements that failed; while
      it grows the lag gauge is stale and the lag alerts are blind.
    - ``events_applied`` (``events_applied_total{consumer,event_type}``): events applied to a read
      model (duplicates skipped by the inbox are not counted).
    """

    events_appended: Counter
    outbox_backlog: Gauge
    outbox_oldest_age: Gauge
    relay_published: Counter
    relay_errors: Counter
    consumer_lag: Gauge
    consumer_lag_errors: Counter
    events_applied: Counter


# Instruments per registry; weak keys so a discarded app (and its registry) is garbage collected.
_cache_lock = threading.Lock()
_platform_cache: weakref.WeakKeyDictionary[CollectorRegistry, PlatformMetrics] = weakref.WeakKeyDictionary()


def create_registry(*, process_metrics: bool = True) -> CollectorRegistry:
    """A fresh registry, with process, Python-platform and GC collectors unless told otherwise."""
    registry = CollectorRegistry(auto_describe=True)
    if process_metrics:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    return registry


def platform_metrics(registry: CollectorRegistry) -> PlatformMetrics:
    """The event-platform instruments of ``registry``, created on first use (safe to call repeatedly)."""
    return instruments_once(_platform_cache, registry, _platform_instruments)


def _platform_instruments(make: InstrumentMaker) -> PlatformMetrics:
    """The declarations of the event-platform instruments (names and labels are what the alerts query)."""
    return PlatformMetrics(
        events_appended=make.counter("events_appended_total", "Events committed to the event store.", "event_type"),
        outbox_backlog=make.gauge("outbox_backlog", "Outbox rows not yet published to Kafka."),
        outbox_oldest_age=make.gauge(
            "outbox_oldest_age_seconds", "Age of the oldest outbox row not yet published (0 when empty)."
        ),
        relay_published=make.counter(
            "relay_published_total", "Events the relay published and Kafka acknowledged.", "topic"
        ),
        relay_errors=make.counter(
            "relay_errors_total", "Relay interruptions (database or broker failures) that forced a retry."
        ),
        consumer_lag=make.gauge(
            "consumer_lag",
            "Messages between a consumer group's position and the end of the partition.",
            "group",
            "topic",
            "partition",
        ),
        consumer_lag_errors=make.counter(
            "consumer_lag_errors",
            "Consumer lag measurements that failed (broker unreachable, timeout, refused request).",
        ),
        events_applied=make.counter(
            "events_applied_total",
            "Events a consumer applied to its read model (duplicates excluded).",
            "consumer",
            "event_type",
        ),
    )


@dataclass(frozen=True, slots=True)
class InstrumentMaker:
    """Makes instruments registered in one registry, so a declaration says only its name, help and labels.

    Every instrument here belongs to a registry an app or process owns (never the process-wide
    default, see the module docstring); binding the registry once keeps a declaration from forgetting it.
    """

    registry: CollectorRegistry

    def counter(self, name: str, documentation: str, *labels: str) -> Counter:
        """A counter with the given label names (none: a single series)."""
        return Counter(name, documentation, labels, registry=self.registry)

    def gauge(self, name: str, documentation: str, *labels: str) -> Gauge:
        """A gauge with the given label names (none: a single series)."""
        return Gauge(name, documentation, labels, registry=self.registry)

    def histogram(self, name: str, documentation: str, *labels: str) -> Histogram:
        """A histogram with the default buckets and the given label names."""
        return Histogram(name, documentation, labels, registry=self.registry)


def instruments_once(
    cache: weakref.WeakKeyDictionary[CollectorRegistry, _T],
    registry: CollectorRegistry,
    build: Callable[[InstrumentMaker], _T],
) -> _T:
    """The instruments ``build`` made for ``registry`` the first time it was asked (Prometheus refuses twins)."""
    with _cache_lock:
        found = cache.get(registry)
        if found is None:
            found = cache[registry] = build(InstrumentMaker(registry))
        return found
