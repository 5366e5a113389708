"""Client of the customer service's key endpoint, so the projector can open personal fields.

The customer service encrypts personal fields under a per-customer key (``shared.privacy``) and
serves it at ``GET /v1/internal/keys/{subject}`` (scope ``keys:read``). The consumer kit asks this
provider for the keys of a batch's subjects (``shared.consumer.KeyProvider``); a small TTL cache
keeps that to one request per customer every few minutes. A destroyed key (410, the customer was
erased) is remembered for good; a key that cannot be fetched (404, network) leaves the fields
``None``, which is what a reader without the key must see anyway.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping

import httpx

from shared.envelope import source_for

log = logging.getLogger(__name__)

CUSTOMER_SOURCE = source_for("customer")


class CustomerKeyClient:
    """``KeyProvider`` for events published by the customer service."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        ttl_seconds: float = 300.0,
        max_entries: int = 50_000,
        concurrency: int = 8,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(2.0),
            transport=transport,
        )
        self._ttl = ttl_seconds
        self._max = max_entries
        self._limit = asyncio.Semaphore(concurrency)
        self._cache: OrderedDict[str, tuple[bytes | None, float]] = OrderedDict()

    async def keys_for(self, source: str, subjects: set[str]) -> Mapping[str, bytes]:
        """Keys of the subjects that have one (from the cache, else fetched concurrently)."""
        if source != CUSTOMER_SOURCE:
            return {}
        now = time.monotonic()
        found: dict[str, bytes] = {}
        missing: list[str] = []
        for subject in subjects:
            cached = self._cache.get(subject)
            if cached is not None and cached[1] > now:
                if cached[0] is not None:
                    found[subject] = cached[0]
            else:
                missing.append(subject)
        fetched = await asyncio.gather(*(self._fetch(subject) for subject in missing))
        for subject, key in zip(missing, fetched, strict=True):
            if key is not None:
                found[subject] = key
        return found

    async def _fetch(self, subject: str) -> bytes | None:
        async with self._limit:
            try:
                response = await self._client.get(f"/v1/internal/keys/{subject}")
            except httpx.HTTPError as exc:
                log.warning("data key unavailable", extra={"subject": subject, "error": repr(exc)})
                return None
        if response.status_code == 200:
            key = base64.b64decode(response.json()["key"])
            self._remember(subject, key, self._ttl)
            return key
        if response.status_code == 410:
            self._remember(subject, None, float("inf"))  # erased: the key never comes back
        elif response.status_code == 404:
            self._remember(subject, None, min(self._ttl, 30.0))
        else:
            log.warning("data key refused", extra={"subject": subject, "status": response.status_code})
        return None

    def _remember(self, subject: str, key: bytes | None, ttl: float) -> None:
        self._cache[subject] = (key, time.monotonic() + ttl)
        self._cache.move_to_end(subject)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)

    async def close(self) -> None:
        await self._client.aclose()
