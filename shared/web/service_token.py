"""The bearer token one service sends another (key requests, audit reads, export parts).

In order of preference: a client-credentials token from the OpenID provider when
``SERVICE_OIDC_CLIENT_ID``/``SERVICE_OIDC_CLIENT_SECRET`` are set (the provider's role mapping gives
the client its scopes; no shared secret between services); ``SERVICE_TOKEN`` when set; otherwise
a short-lived token minted with the shared HS256 secret (local and test runs).
"""

from __future__ import annotations

import asyncio
import time

import httpx

from shared.settings import PlatformSettings
from shared.web.auth import mint_token


class ServiceToken:
    """A bearer token for service-to-service calls, renewed before it expires."""

    def __init__(
        self,
        settings: PlatformSettings,
        subject: str,
        ttl_seconds: int = 900,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.subject = subject
        self.ttl = ttl_seconds
        self._token = settings.service_token or ""
        self._expires = float("inf") if settings.service_token else 0.0
        self._lock = asyncio.Lock()
        self._transport = transport
        self.requests = 0
        """Client-credentials token requests made (one per token lifetime, not one per call)."""

    @property
    def uses_provider(self) -> bool:
        """Whether tokens come from the OpenID provider's client-credentials grant."""
        return bool(self.settings.service_oidc_client_id)

    def get(self) -> str:
        """A minted (HS256) or configured token; for a provider token use ``current``."""
        if time.monotonic() > self._expires:
            self._token = mint_token(self.settings, self.subject, ["keys:read"], ttl_seconds=self.ttl)
            self._expires = time.monotonic() + self.ttl * 0.8
        return self._token

    async def current(self) -> str:
        """The token to send now: from the provider (single flight, renewed at 80% of its life) or ``get``."""
        if not self.uses_provider:
            return self.get()
        if time.monotonic() <= self._expires:
            return self._token
        async with self._lock:
            if time.monotonic() > self._expires:
                token, lifetime = await self._client_credentials()
                self._token, self._expires = token, time.monotonic() + lifetime * 0.8
        return self._token

    async def _client_credentials(self) -> tuple[str, float]:
        settings = self.settings
        form = {"grant_type": "client_credentials"}
        if settings.service_oidc_scope:
            form["scope"] = settings.service_oidc_scope
        else:
            form["resource"] = settings.auth_oidc_audience
        async with httpx.AsyncClient(timeout=httpx.Timeout(5.0), transport=self._transport) as http:
            discovery = await http.get(settings.auth_oidc_issuer.rstrip("/") + "/.well-known/openid-configuration")
            endpoint = discovery.raise_for_status().json()["token_endpoint"]
            self.requests += 1
            answer = await http.post(endpoint, data=form,
                                     auth=(settings.service_oidc_client_id, settings.service_oidc_client_secret))
            body = answer.raise_for_status().json()
        return str(body["access_token"]), float(body.get("expires_in", 300))
