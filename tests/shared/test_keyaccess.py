"""Key access: a producer serves data keys to entitled subscribers, and never after an erasure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from shared.events.envelope import source_for
from shared.privacy.keyaccess import RemoteKeyProvider, ServiceToken, keys_router
from shared.settings import ServiceSettings
from shared.shredding import KeyStore
from shared.store.db import create_pool
from shared.testing.waiting import eventually
from shared.web import create_service_app


class ProducerSettings(ServiceSettings):
    service_name = "producer"


def producer_app(dsn: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await create_pool(dsn)
        yield
        await app.state.pool.close()

    return create_service_app(settings=ProducerSettings(environment="test", database_url=dsn), title="producer",
                              description="p", version="1", routers=[keys_router()], lifespan=lifespan, readiness={})


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
