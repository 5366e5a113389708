"""Prometheus metrics: bounded labels, one registry per app, platform instruments."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from shared.web import create_registry, platform_metrics

from .conftest import client_for, make_app


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


@pytest.mark.asyncio
async def test_requests_are_counted_by_route_template_not_raw_path(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    for widget_id in (1, 2, 3):
        await client.get(f"/v1/widgets/{widget_id}", headers=auth("customers:read"))
    await client.get("/v1/widgets/4")
    await client.get("/no/such/path/123")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    counts = samples(response.text, "http_requests_total")
    route = (("method", "GET"), ("route", "/v1/widgets/{widget_id}"))
    assert counts[(*route, ("status", "200"))] == 3
    assert counts[(*route, ("status", "401"))] == 1
    assert counts[(("method", "GET"), ("route", "<unmatched>"), ("status", "404"))] == 1
    assert "/v1/widgets/1" not in response.text
    assert "/no/such/path" not in response.text
    durations = samples(response.text, "http_request_duration_seconds_count")
    assert durations[(*route, ("status", "200"))] == 3


@pytest.mark.asyncio
async def test_unknown_methods_share_one_label(client: httpx.AsyncClient) -> None:
    await client.request("BREW", "/v1/widgets")

    counts = samples((await client.get("/metrics")).text, "http_requests_total")

    assert counts[(("method", "OTHER"), ("route", "/v1/widgets"), ("status", "405"))] == 1


@pytest.mark.asyncio
async def test_each_app_counts_only_its_own_requests() -> None:
    first, second = make_app(), make_app()
    async with client_for(first) as one, client_for(second) as two:
        await one.get("/health/live")
        await one.get("/health/live")
        await two.get("/health/live")
        first_counts = samples((await one.get("/metrics")).text, "http_requests_total")
        second_counts = samples((await two.get("/metrics")).text, "http_requests_total")

    live = (("method", "GET"), ("route", "/health/live"), ("status", "200"))
    assert first_counts[live] == 2
    assert second_counts[live] == 1


def test_platform_metrics_are_created_once_per_registry() -> None:
    registry = create_registry(process_metrics=False)

    metrics = platform_metrics(registry)
    again = platform_metrics(registry)
    metrics.events_appended.labels(event_type="CustomerRegistered").inc(2)
    metrics.outbox_backlog.set(5)
    metrics.outbox_oldest_age.set(1.5)
    metrics.relay_published.labels(topic="customer.events").inc()
    metrics.consumer_lag.labels(group="analytics", topic="customer.events", partition="0").set(7)
    metrics.events_applied.labels(consumer="analytics", event_type="OrderPlaced").inc()

    assert again is metrics
    text = generate_latest(registry).decode()
    assert samples(text, "events_appended_total") == {(("event_type", "CustomerRegistered"),): 2}
    assert samples(text, "outbox_backlog") == {(): 5}
    assert samples(text, "outbox_oldest_age_seconds") == {(): 1.5}
    assert samples(text, "relay_published_total") == {(("topic", "customer.events"),): 1}
    assert samples(text, "consumer_lag") == {
        (("group", "analytics"), ("partition", "0"), ("topic", "customer.events")): 7
    }
    assert samples(text, "events_applied_total") == {
        (("consumer", "analytics"), ("event_type", "OrderPlaced")): 1
    }


def test_platform_metrics_of_different_registries_are_independent() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()

    platform_metrics(first).outbox_backlog.set(3)

    assert platform_metrics(second) is not platform_metrics(first)
    assert samples(generate_latest(second).decode(), "outbox_backlog") == {(): 0}
