"""Key access: a producer serves data keys to entitled subscribers, and never after an erasure."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI

from shared.events.envelope import source_for
from shared.privacy.keyaccess import BATCH_LIMIT, BATCH_PATH, RemoteKeyProvider, ServiceToken, keys_router
from shared.settings import ServiceSettings
from shared.shredding import KeyStore
from shared.store.db import create_pool
from shared.testing.waiting import eventually
from shared.web import create_service_app


class ProducerSettings(ServiceSettings):
    service_name = "producer"


def producer_app(dsn: str, router: APIRouter | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await create_pool(dsn)
        yield
        await app.state.pool.close()

    return create_service_app(settings=ProducerSettings(environment="test", database_url=dsn), title="producer",
                              description="p", version="1", routers=[router or keys_router()], lifespan=lifespan,
                              readiness={})


async def test_subscribers_get_keys_until_erasure_and_never_after(fresh_dsn: str) -> None:
    app = producer_app(fresh_dsn)
    settings = ProducerSettings(environment="test", database_url=fresh_dsn)
    async with app.router.lifespan_context(app):
        store = KeyStore()
        async with app.state.pool.acquire() as conn:
            key = await store.key_for(conn, "alice")
        provider = RemoteKeyProvider(base_urls={source_for("producer"): "http://producer"},
                                     token=ServiceToken(settings, "service:tests"),
                                     transport=httpx.ASGITransport(app=app), ttl_seconds=0)
        assert await provider.keys_for(source_for("producer"), {"alice", "nobody"}) == {"alice": key}
        assert await provider.keys_for(source_for("someone-else"), {"alice"}) == {}
        async with app.state.pool.acquire() as conn:
            await store.destroy(conn, "alice")
        assert await provider.keys_for(source_for("producer"), {"alice"}) == {}
        await provider.close()

        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://producer")
        assert (await client.get("/v1/internal/keys/alice")).status_code == 401
        token = ServiceToken(settings, "service:tests").get()
        response = await client.get("/v1/internal/keys/alice", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 410
        assert "key" not in response.json()
        await client.aclose()


async def test_the_key_cache_keeps_at_most_its_bound_and_sweeps_expired_keys(fresh_dsn: str) -> None:
    app = producer_app(fresh_dsn)
    settings = ProducerSettings(environment="test", database_url=fresh_dsn)
    source = source_for("producer")
    async with app.router.lifespan_context(app):
        store = KeyStore()
        subjects = [f"subject-{n}" for n in range(5)]
        async with app.state.pool.acquire() as conn:
            keys = {s: await store.key_for(conn, s) for s in subjects}
        provider = RemoteKeyProvider(base_urls={source: "http://producer"},
                                     token=ServiceToken(settings, "service:tests"),
                                     transport=httpx.ASGITransport(app=app), ttl_seconds=0.2, max_entries=3)
        try:
            assert await provider.keys_for(source, set(subjects)) == keys  # all answered, only 3 kept
            assert len(provider) == 3

            async def entries_after_one_more_fetch() -> int:
                await provider.keys_for(source, {"nobody"})  # a 404, remembered: remembering sweeps
                return len(provider)

            # once the five keys have expired, the sweep leaves only the latest answer
            await eventually(entries_after_one_more_fetch, until=lambda n: n == 1, message="expired keys swept")
        finally:
            await provider.close()


class CountingTransport(httpx.AsyncBaseTransport):
    """The real app behind ``httpx.ASGITransport``, counting the requests that reach it by method."""

    def __init__(self, app: FastAPI) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.requests: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        return await self.inner.handle_async_request(request)


def provider_for(
    app: FastAPI, settings: ProducerSettings, **kwargs: Any
) -> tuple[RemoteKeyProvider, CountingTransport]:
    transport = CountingTransport(app)
    provider = RemoteKeyProvider(base_urls={source_for("producer"): "http://producer"},
                                 token=ServiceToken(settings, "service:tests"), transport=transport, **kwargs)
    return provider, transport


async def test_the_batch_route_answers_every_subject_once_as_key_destroyed_or_unknown(fresh_dsn: str) -> None:
    app = producer_app(fresh_dsn)
    settings = ProducerSettings(environment="test", database_url=fresh_dsn)
    async with app.router.lifespan_context(app):
        store = KeyStore()
        async with app.state.pool.acquire() as conn:
            alice, bob = await store.key_for(conn, "alice"), await store.key_for(conn, "bob")
            await store.destroy(conn, "carol")
        assert alice is not None and bob is not None
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://producer")
        auth = {"Authorization": f"Bearer {ServiceToken(settings, 'service:tests').get()}"}
        try:
            asked = {"subjects": ["bob", "carol", "alice", "nobody", "alice"]}
            assert (await client.post(BATCH_PATH, json=asked)).status_code == 401
            answer = await client.post(BATCH_PATH, json=asked, headers=auth)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["keys"] == [
                {"subject": "alice", "algorithm": "AES-256-GCM", "key": base64.b64encode(alice).decode()},
                {"subject": "bob", "algorithm": "AES-256-GCM", "key": base64.b64encode(bob).decode()},
            ]
            assert body["destroyed"] == ["carol"] and body["unknown"] == ["nobody"]

            for bad in ({"subjects": []}, {"subjects": [""]}, {"subjects": ["x"] * (BATCH_LIMIT + 1)}, {}):
                refused = await client.post(BATCH_PATH, json=bad, headers=auth)
                assert refused.status_code == 422, bad
                assert refused.headers["content-type"].startswith("application/problem+json")
        finally:
            await client.aclose()


async def test_the_provider_asks_for_a_batch_of_subjects_in_one_request_per_thousand(fresh_dsn: str) -> None:
    app = producer_app(fresh_dsn)
    settings = ProducerSettings(environment="test", database_url=fresh_dsn)
    source = source_for("producer")
    async with app.router.lifespan_context(app):
        store = KeyStore()
        subjects = [f"subject-{n}" for n in range(40)]
        async with app.state.pool.acquire() as conn:
            keys = {s: await store.key_for(conn, s) for s in subjects}
            await store.destroy(conn, "erased")
        provider, transport = provider_for(app, settings)
        try:
            assert await provider.keys_for(source, {*subjects, "erased", "nobody"}) == keys
            assert transport.requests == [f"POST {BATCH_PATH}"]
            # every answer is remembered: asking again reaches nobody
            assert await provider.keys_for(source, {*subjects, "erased", "nobody"}) == keys
            assert len(transport.requests) == 1

            unknown = {f"unknown-{n}" for n in range(BATCH_LIMIT + 1)}
            assert await provider.keys_for(source, unknown) == {}
            assert transport.requests[1:] == [f"POST {BATCH_PATH}"] * 2
        finally:
            await provider.close()


async def test_a_producer_without_the_batch_route_is_asked_key_by_key(fresh_dsn: str) -> None:
    """A rolling upgrade: subscribers may be newer than the producer they ask."""
    router = keys_router()
    router.routes = [route for route in router.routes if BATCH_PATH not in getattr(route, "path", "")]
    app = producer_app(fresh_dsn, router)
    settings = ProducerSettings(environment="test", database_url=fresh_dsn)
    source = source_for("producer")
    async with app.router.lifespan_context(app):
        store = KeyStore()
        async with app.state.pool.acquire() as conn:
            alice, bob = await store.key_for(conn, "alice"), await store.key_for(conn, "bob")
        provider, transport = provider_for(app, settings, ttl_seconds=0)
        try:
            assert await provider.keys_for(source, {"alice", "nobody"}) == {"alice": alice}
            assert transport.requests[0] == f"POST {BATCH_PATH}"
            assert sorted(transport.requests[1:]) == ["GET /v1/internal/keys/alice", "GET /v1/internal/keys/nobody"]
            assert await provider.keys_for(source, {"bob"}) == {"bob": bob}
            assert transport.requests[3:] == ["GET /v1/internal/keys/bob"]  # the batch route is not asked again
        finally:
            await provider.close()
