"""Platform gauges on /metrics: outbox backlog and age from the database, committed appends by type."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI, Request

from shared.settings import ServiceSettings
from shared.store.db import create_pool
from shared.store.eventstore import EventStore
from shared.store.idempotent_commands import CommandResult, run_command
from shared.store.uow import UnitOfWork
from shared.web import create_service_app
from tests.shared.sample_events import TEST_CATALOG, ThingHappened


class ProbeSettings(ServiceSettings):
    service_name = "probe"


def probe_app(dsn: str) -> FastAPI:
    router = APIRouter()

    @router.post("/v1/things", status_code=201)
    async def create(request: Request) -> dict[str, str]:
        """Record one thing."""

        async def command(uow: UnitOfWork) -> CommandResult:
            await uow.append(stream_id="s", stream_type="thing", expected_version=await uow.store.stream_version(
                uow.conn, "s"), events=[ThingHappened(customer_id="c")], subject="c")
            return CommandResult(201, {"ok": "yes"})

        result = await run_command(request.app.state.pool, request.app.state.store, command)
        return dict(result.body)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await create_pool(dsn)
        app.state.store = EventStore(service="probe", topic="probe.events", catalog=TEST_CATALOG)
        yield
        await app.state.pool.close()

    return create_service_app(settings=ProbeSettings(environment="test", database_url=dsn), title="probe",
                              description="probe", version="1", routers=[router], lifespan=lifespan, readiness={})


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


async def test_metrics_show_committed_appends_and_the_unpublished_outbox(fresh_dsn: str) -> None:
    app = probe_app(fresh_dsn)
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe")
        before = (await client.get("/metrics")).text
        assert metric(before, "outbox_backlog") == 0
        for _ in range(3):
            assert (await client.post("/v1/things")).status_code == 201
        after = (await client.get("/metrics")).text
        assert metric(after, "outbox_backlog") == 3
        assert metric(after, "outbox_oldest_age_seconds") > 0
        assert metric(after, 'events_appended_total{event_type="ThingHappened"}') == 3
        await client.aclose()


async def test_the_correlation_id_of_a_request_travels_into_its_events(fresh_dsn: str) -> None:
    app = probe_app(fresh_dsn)
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe")
        response = await client.post("/v1/things", headers={"X-Correlation-ID": "order-flow-42"})
        assert response.status_code == 201
        assert response.headers["X-Correlation-ID"] == "order-flow-42"
        headers = await app.state.pool.fetchval("select headers from outbox")
        metadata = await app.state.pool.fetchval("select metadata from events")
        await client.aclose()
    assert headers["ce_correlationid"] == "order-flow-42"
    assert metadata["correlation_id"] == "order-flow-42"
