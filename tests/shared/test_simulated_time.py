"""X-Simulated-Time lets the demo replay history in local/test environments, and nowhere else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
from fastapi import APIRouter, FastAPI, Request

from shared.clock import SystemClock
from shared.settings import ServiceSettings
from shared.store.db import create_pool
from shared.store.eventstore import EventStore
from shared.store.idempotent_commands import CommandResult, run_command
from shared.store.uow import UnitOfWork
from tests.shared.sample_events import TEST_CATALOG, ThingHappened


class ProbeSettings(ServiceSettings):
    service_name = "probe"


def probe_app(dsn: str, environment: str) -> FastAPI:
    from shared.web import create_service_app

    router = APIRouter()

    @router.post("/v1/things", status_code=201)
    async def create(request: Request) -> dict[str, str]:
        """Record one thing and say what time the service thought it was."""

        async def command(uow: UnitOfWork) -> CommandResult:
            version = await uow.store.stream_version(uow.conn, "s")
            await uow.append(stream_id="s", stream_type="thing", expected_version=version,
                             events=[ThingHappened(customer_id="c")], subject="c")
            return CommandResult(201, {"clock": SystemClock().now().isoformat()})

        result = await run_command(request.app.state.pool, request.app.state.store, command)
        return dict(result.body)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await create_pool(dsn)
        app.state.store = EventStore(service="probe", topic="probe.events", catalog=TEST_CATALOG)
        yield
        await app.state.pool.close()

    settings = ProbeSettings(environment=environment, database_url=dsn,  # type: ignore[arg-type]
                             auth_jwt_secret="x" * 40, auth_oidc_issuer="https://idp.example.com/realms/c360",
                             service_token="a-token-the-issuer-signed")
    return create_service_app(settings=settings, title="probe", description="probe", version="1",
                              routers=[router], lifespan=lifespan, readiness={})


async def post_at(app: FastAPI, moment: str | None) -> dict[str, str]:
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe")
        headers = {"X-Simulated-Time": moment} if moment else {}
        response = await client.post("/v1/things", headers=headers)
        await client.aclose()
        assert response.status_code == 201
        return dict(response.json())


async def test_local_environments_take_the_simulated_time_for_clocks_and_events(fresh_dsn: str) -> None:
    body = await post_at(probe_app(fresh_dsn, "test"), "2026-03-01T10:00:00Z")
    assert body["clock"] == "2026-03-01T10:00:00+00:00"
    conn = await __import__("asyncpg").connect(fresh_dsn)
    try:
        occurred = await conn.fetchval("select occurred_at from events")
        headers = await conn.fetchval("select headers from outbox")
    finally:
        await conn.close()
    assert occurred == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert '"ce_time": "2026-03-01T10:00:00.000000Z"' in headers


async def test_production_ignores_the_header(fresh_dsn: str) -> None:
    body = await post_at(probe_app(fresh_dsn, "prod"), "2026-03-01T10:00:00Z")
    assert not body["clock"].startswith("2026-03-01")


async def test_a_malformed_simulated_time_is_ignored(fresh_dsn: str) -> None:
    body = await post_at(probe_app(fresh_dsn, "test"), "last tuesday")
    assert not body["clock"].startswith("last")
    assert datetime.fromisoformat(body["clock"]).year >= 2026
