"""Services fetch each other's data keys with a client-credentials token from a real OpenID provider."""

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
from shared.testing.oidc import LocalOidcProvider, demo_directory
from shared.web import create_service_app


class ProducerSettings(ServiceSettings):
    service_name = "producer"


def client_settings(dsn: str, provider: LocalOidcProvider, client_id: str) -> ProducerSettings:
    secret = next(s["client_secret"] for s in demo_directory()["services"] if s["client_id"] == client_id)
    return ProducerSettings(environment="test", database_url=dsn, auth_oidc_issuer=provider.issuer,
                            service_oidc_client_id=client_id, service_oidc_client_secret=secret)


async def test_a_service_client_reads_keys_and_an_unmapped_one_is_refused(
    fresh_dsn: str, oidc_provider: LocalOidcProvider
) -> None:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await create_pool(fresh_dsn)
        yield
        await app.state.pool.close()

    settings = ProducerSettings(environment="test", database_url=fresh_dsn, auth_oidc_issuer=oidc_provider.issuer)
    app = create_service_app(settings=settings, title="producer", description="p", version="1",
                             routers=[keys_router()], lifespan=lifespan, readiness={})
    source = source_for("producer")
    async with app.router.lifespan_context(app):
        async with app.state.pool.acquire() as conn:
            key = await KeyStore().key_for(conn, "alice")
        token = ServiceToken(client_settings(fresh_dsn, oidc_provider, "c360-analytics"), "service:analytics")
        assert token.uses_provider
        entitled = RemoteKeyProvider(base_urls={source: "http://producer"}, token=token,
                                     transport=httpx.ASGITransport(app=app), ttl_seconds=0)
        for _ in range(3):
            assert await entitled.keys_for(source, {"alice"}) == {"alice": key}
        assert token.requests == 1, "one client-credentials token serves many calls"
        await entitled.close()

        probe = ServiceToken(client_settings(fresh_dsn, oidc_provider, "c360-probe"), "service:probe")
        refused = RemoteKeyProvider(base_urls={source: "http://producer"}, token=probe,
                                    transport=httpx.ASGITransport(app=app), ttl_seconds=0)
        assert await refused.keys_for(source, {"alice"}) == {}, "a client whose groups map to nothing gets no key"
        await refused.close()

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://producer") as http:
            answer = await http.get("/v1/internal/keys/alice",
                                    headers={"Authorization": f"Bearer {await probe.current()}"})
            assert answer.status_code == 403
            session = await http.get("/v1/session", headers={"Authorization": f"Bearer {await token.current()}"})
            assert session.json()["subject"] == "c360-analytics" and session.json()["scopes"] == ["keys:read"]
