"""Liveness, readiness, and the ready-made PostgreSQL and Kafka checks against the real servers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from shared.web import kafka_check, postgres_check, run_checks

from .conftest import KAFKA_BOOTSTRAP, POSTGRES_DSN, client_for, make_app


@pytest.mark.asyncio
async def test_live_is_always_ok(client: httpx.AsyncClient, app: FastAPI) -> None:
    app.state.healthy = False

    response = await client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.asyncio
async def test_ready_lists_every_passing_check(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"always": "ok", "database": "ok"}}


@pytest.mark.asyncio
async def test_ready_is_a_503_problem_naming_the_failed_check_without_its_details(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    app.state.healthy = False

    response = await client.get("/health/ready")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["Retry-After"]
    body = response.json()
    assert body["checks"] == {"always": "ok", "database": "failed: ConnectionRefusedError"}
    assert body["failed"] == ["database"]
    assert "database" in body["detail"]
    assert "10.9.9.9" not in response.text


@pytest.mark.asyncio
async def test_health_and_metrics_need_no_token(client: httpx.AsyncClient) -> None:
    for path in ("/health/live", "/health/ready", "/metrics"):
        assert (await client.get(path)).status_code == 200, path


@pytest.mark.asyncio
async def test_checks_run_concurrently_and_a_hung_check_times_out() -> None:
    both_started = asyncio.Barrier(2)
    never = asyncio.Event()

    async def first(app: FastAPI) -> None:
        await both_started.wait()

    async def hung(app: FastAPI) -> None:
        await both_started.wait()
        await never.wait()

    results = await run_checks(FastAPI(), {"first": first, "hung": hung}, check_timeout=0.2)

    assert results == {"first": "ok", "hung": "timeout"}


@pytest.mark.asyncio
async def test_postgres_check_passes_against_the_real_server() -> None:
    pool = await asyncpg.create_pool(POSTGRES_DSN, min_size=1, max_size=1)
    try:
        app = FastAPI()
        app.state.pool = pool

        results = await run_checks(app, {"postgres": postgres_check(lambda app: app.state.pool)})
    finally:
        await pool.close()

    assert results == {"postgres": "ok"}


@pytest.mark.asyncio
async def test_postgres_check_fails_on_a_closed_pool_or_a_missing_one() -> None:
    pool = await asyncpg.create_pool(POSTGRES_DSN, min_size=1, max_size=1)
    await pool.close()
    app = FastAPI()
    app.state.pool = pool
    check = postgres_check(lambda app: app.state.pool)

    results = await run_checks(
        app, {"closed": check, "missing": postgres_check(lambda app: app.state.nothing)}
    )

    assert results == {"closed": "failed: InterfaceError", "missing": "failed: AttributeError"}


@pytest.mark.asyncio
async def test_kafka_check_passes_against_the_real_broker_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    check = kafka_check(KAFKA_BOOTSTRAP)
    loop_thread = threading.get_ident()
    seen_threads: list[int] = []
    original = check._new_client

    def recording_new_client() -> object:
        seen_threads.append(threading.get_ident())
        return original()

    monkeypatch.setattr(check, "_new_client", recording_new_client)
    try:
        first = await run_checks(FastAPI(), {"kafka": check})
        second = await run_checks(FastAPI(), {"kafka": check})
    finally:
        await asyncio.get_running_loop().run_in_executor(None, check.close)

    assert first == second == {"kafka": "ok"}
    assert len(seen_threads) == 1  # the admin client is cached between probes
    assert seen_threads[0] != loop_thread


@pytest.mark.asyncio
async def test_kafka_check_fails_when_no_broker_answers() -> None:
    check = kafka_check("127.0.0.1:9", timeout=0.5)
    try:
        results = await run_checks(FastAPI(), {"kafka": check}, check_timeout=5)
    finally:
        check.close()

    assert results["kafka"].startswith("failed: ")


@pytest.mark.asyncio
async def test_the_service_lifespan_runs_and_checks_are_closed_at_shutdown() -> None:
    events: list[str] = []

    class ClosableCheck:
        async def __call__(self, app: FastAPI) -> None:
            if app.state.pool != "pool":
                raise RuntimeError("no pool")

        def close(self) -> None:
            events.append("check closed")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = "pool"
        events.append("started")
        yield
        events.append("stopped")

    app = make_app(lifespan=lifespan, readiness={"pool": ClosableCheck()})

    async with app.router.lifespan_context(app), client_for(app) as client:
        response = await client.get("/health/ready")

    assert response.status_code == 200
    assert events == ["started", "stopped", "check closed"]
