"""Key access between services: how subscribers open personal fields they are entitled to.

Every producing service encrypts personal fields under per-customer keys (``shared.shredding``) and
serves a key at ``GET /v1/internal/keys/{subject}`` (scope ``keys:read``; 410 once destroyed by an
erasure), and up to ``BATCH_LIMIT`` keys at once at ``POST /v1/internal/keys:batchGet``. A subscriber
that must show personal data (the analytics 360 view, a birthday campaign) asks the producer named
by the event's ``ce_source`` through ``RemoteKeyProvider``, one batch request per batch of events.
Keys are cached briefly; a destroyed key is remembered as destroyed (and asked again, answered as
destroyed again, if the cache evicted it), so an erased customer's data stays closed even in a
replay. See docs/adr/0002-crypto-shredding-and-key-access.md.

Why the batch route: a bulk import of 100,000 customers made every subscriber ask for 100,000 keys
one request each, and serving them cost the customer API more CPU than the import itself (108 s in
the onboarding benchmark, issue 18); one request for a batch's subjects costs one query.

The service token, in order of preference: a client-credentials token from the OpenID provider when
``SERVICE_OIDC_CLIENT_ID``/``SERVICE_OIDC_CLIENT_SECRET`` are set (the provider's role mapping gives
the client ``keys:read``; no shared secret between services); ``SERVICE_TOKEN`` when set; otherwise
a short-lived ``keys:read`` token minted with the shared HS256 secret (local and test runs).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from shared.events.envelope import source_for
from shared.settings import PlatformSettings
from shared.shredding import KeyStore
from shared.web.auth import Principal, require
from shared.web.service_token import ServiceToken

log = logging.getLogger(__name__)

KEY_PATH = "/v1/internal/keys/{subject}"
BATCH_PATH = "/v1/internal/keys:batchGet"
BATCH_LIMIT = 1000
"""Most subjects one batch request may name (a subscriber splits larger sets)."""


class DataKey(BaseModel):
    """A subject's data key as a producing service serves it to entitled subscribers."""

    subject: str
    algorithm: Literal["AES-256-GCM"] = "AES-256-GCM"
    key: str = Field(description="The subject's data key, base64.")


class KeyBatchRequest(BaseModel):
    """The subjects whose keys a subscriber asks for at once."""

    subjects: list[Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]] = Field(
        min_length=1, max_length=BATCH_LIMIT, description=f"At most {BATCH_LIMIT} subjects."
    )


class KeyBatch(BaseModel):
    """Every subject asked for, in exactly one of the three lists."""

    keys: list[DataKey] = Field(description="The subjects that have a key.")
    destroyed: list[str] = Field(description="Subjects whose key was destroyed by an erasure: never served again.")
    unknown: list[str] = Field(description="Subjects this service holds no key for.")


def keys_router() -> APIRouter:
    """The key route of every producing service (its lifespan puts its pool on ``app.state.pool``)."""
    router = APIRouter(tags=["internal"])

    @router.get(KEY_PATH, response_model=DataKey)
    async def data_key(
        subject: str, request: Request, principal: Annotated[Principal, Depends(require("keys:read"))]
    ) -> DataKey:
        """A subject's data key, so entitled subscribers can open personal fields (410 after erasure)."""
        async with request.app.state.pool.acquire() as conn:
            key = await KeyStore().published_key(conn, subject)
        return DataKey(subject=subject, key=base64.b64encode(key).decode())

    @router.post(BATCH_PATH, response_model=KeyBatch)
    async def data_keys(
        body: KeyBatchRequest, request: Request, principal: Annotated[Principal, Depends(require("keys:read"))]
    ) -> KeyBatch:
        """Many subjects' data keys in one answer, for subscribers opening a batch of events."""
        async with request.app.state.pool.acquire() as conn:
            keys, destroyed = await KeyStore().published_keys(conn, body.subjects)
        asked = sorted(set(body.subjects))
        return KeyBatch(
            keys=[DataKey(subject=s, key=base64.b64encode(keys[s]).decode()) for s in asked if s in keys],
            destroyed=[s for s in asked if s in destroyed],
            unknown=[s for s in asked if s not in keys and s not in destroyed],
        )

    return router


KEY_CACHE_ENTRIES = 20_000
"""Bound of a provider's key cache. An entry (source, subject, key, expiry) takes ~390 bytes
(measured with tracemalloc), so a full cache holds ~7.5 MiB; 100,000 entries were ~37 MiB."""


class RemoteKeyProvider:
    """``shared.consuming.consumer.KeyProvider`` fetching keys from the producing services over HTTP.

    The cache holds at most ``max_entries`` entries (least recently remembered evicted first), and
    entries past their time to live are swept out about once per ``ttl_seconds``: it holds the
    subjects seen in the last few minutes, not every subject the process ever met (which is how an
    unswept cache grows for hours, one customer at a time, until its bound).
    """

    def __init__(
        self,
        *,
        base_urls: Mapping[str, str],
        token: ServiceToken,
        ttl_seconds: float = 300.0,
        max_entries: int = KEY_CACHE_ENTRIES,
        concurrency: int = 8,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._urls = {source: url.rstrip("/") for source, url in base_urls.items()}
        self._token = token
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(2.0), transport=transport)
        self._ttl = ttl_seconds
        self._max = max_entries
        self._limit = asyncio.Semaphore(concurrency)
        self._cache: OrderedDict[tuple[str, str], tuple[bytes | None, float]] = OrderedDict()
        self._next_sweep = time.monotonic() + ttl_seconds
        self._reported_full = False
        self._single_only: set[str] = set()
        """Sources that answered the batch route with 404 or 405 (a producer from before it existed)."""

    def __len__(self) -> int:
        """Entries in the key cache (at most ``max_entries``)."""
        return len(self._cache)

    async def keys_for(self, source: str, subjects: set[str]) -> Mapping[str, bytes]:
        """Keys of the subjects that have one (cached, else fetched in batch requests, concurrently)."""
        base = self._urls.get(source)
        if base is None:
            return {}
        now = time.monotonic()
        found: dict[str, bytes] = {}
        missing: list[str] = []
        for subject in subjects:
            cached = self._cache.get((source, subject))
            if cached is not None and cached[1] > now:
                if cached[0] is not None:
                    found[subject] = cached[0]
            else:
                missing.append(subject)
        if missing and source not in self._single_only:
            chunks = [missing[i:i + BATCH_LIMIT] for i in range(0, len(missing), BATCH_LIMIT)]
            for answered in await asyncio.gather(*(self._fetch_batch(source, base, c) for c in chunks)):
                found.update(answered)
            if source not in self._single_only:
                return found
            missing = [s for s in missing if s not in found]
        fetched = await asyncio.gather(*(self._fetch(source, base, s) for s in missing))
        found.update({s: k for s, k in zip(missing, fetched, strict=True) if k is not None})
        return found

    async def _fetch_batch(self, source: str, base: str, subjects: list[str]) -> dict[str, bytes]:
        """One batch request; remembers every answer. A producer without the route is asked key by key."""
        async with self._limit:
            try:
                token = await self._token.current()
                response = await self._client.post(
                    base + BATCH_PATH, json={"subjects": subjects}, headers={"Authorization": f"Bearer {token}"}
                )
            except httpx.HTTPError as exc:
                log.warning("data keys unavailable", extra={"source": source, "error": repr(exc)})
                return {}
        if response.status_code in (404, 405):
            self._single_only.add(source)
            log.info("producer has no batch key route; asking key by key", extra={"source": source})
            return {}
        if response.status_code != 200:
            log.warning("data keys refused", extra={"source": source, "status": response.status_code})
            return {}
        try:
            answer = KeyBatch.model_validate_json(response.content)
        except ValueError as exc:  # the provider's answers are data too
            log.warning("data keys unreadable", extra={"source": source, "error": repr(exc)})
            return {}
        found = {item.subject: base64.b64decode(item.key) for item in answer.keys}
        for subject, key in found.items():
            self._remember(source, subject, key, self._ttl)
        for subject in answer.destroyed:
            self._remember(source, subject, None, float("inf"))  # erased: the key never comes back
        for subject in answer.unknown:
            self._remember(source, subject, None, min(self._ttl, 30.0))
        return found

    async def _fetch(self, source: str, base: str, subject: str) -> bytes | None:
        async with self._limit:
            try:
                token = await self._token.current()
                response = await self._client.get(
                    base + KEY_PATH.format(subject=subject), headers={"Authorization": f"Bearer {token}"}
                )
            except (httpx.HTTPError, KeyError, ValueError) as exc:  # the provider's answers are data too
                log.warning("data key unavailable", extra={"source": source, "error": repr(exc)})
                return None
        if response.status_code == 200:
            key = base64.b64decode(response.json()["key"])
            self._remember(source, subject, key, self._ttl)
            return key
        if response.status_code == 410:
            self._remember(source, subject, None, float("inf"))  # erased: the key never comes back
        elif response.status_code == 404:
            self._remember(source, subject, None, min(self._ttl, 30.0))
        else:
            log.warning("data key refused", extra={"source": source, "status": response.status_code})
        return None

    def _remember(self, source: str, subject: str, key: bytes | None, ttl: float) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._sweep(now)
        self._cache[(source, subject)] = (key, now + ttl)
        self._cache.move_to_end((source, subject))
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
            if not self._reported_full:
                self._reported_full = True
                log.info("data key cache full; evicting the least recently remembered keys",
                         extra={"entries": self._max})

    def _sweep(self, now: float) -> None:
        """Drop expired entries: one pass over at most ``max_entries``, at most once per time to live."""
        expired = [k for k, (_, expires) in self._cache.items() if expires <= now]
        for k in expired:
            del self._cache[k]
        self._next_sweep = now + self._ttl
        log.debug("data key cache swept", extra={"entries": len(self._cache), "expired": len(expired)})

    def forget(self, subject: str) -> None:
        """Drop cached keys of ``subject`` (on its erasure event) so nothing opens its data again."""
        for key in [k for k in self._cache if k[1] == subject]:
            self._cache[key] = (None, float("inf"))

    async def close(self) -> None:
        await self._client.aclose()


def key_provider_for(settings: PlatformSettings, services: list[str], *, caller: str) -> RemoteKeyProvider:
    """A provider for events of ``services`` (e.g. ``["customer", "ticketing"]``), as ``caller``."""
    urls: dict[str, Any] = {
        source_for(name): getattr(settings, f"{name}_api_url") for name in services
    }
    return RemoteKeyProvider(base_urls=urls, token=ServiceToken(settings, f"service:{caller}"))
