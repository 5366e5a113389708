"""The key client: fetch once, cache, remember erasure, never fail a batch."""

from __future__ import annotations

import base64
import os

import httpx

from services.analytics.adapters.keys import CUSTOMER_SOURCE, CustomerKeyClient

KEY = os.urandom(32)


def client(calls: list[str], status: dict[str, int]) -> CustomerKeyClient:
    def handle(request: httpx.Request) -> httpx.Response:
        subject = request.url.path.rsplit("/", 1)[1]
        calls.append(subject)
        assert request.headers["Authorization"] == "Bearer t0ken"
        code = status.get(subject, 200)
        if code != 200:
            return httpx.Response(code, json={"title": "nope"})
        return httpx.Response(200, json={"subject": subject, "key": base64.b64encode(KEY).decode()})

    return CustomerKeyClient(base_url="http://customer", token="t0ken", transport=httpx.MockTransport(handle))


async def test_keys_are_fetched_once_and_cached() -> None:
    calls: list[str] = []
    keys = client(calls, {})
    assert await keys.keys_for(CUSTOMER_SOURCE, {"a", "b"}) == {"a": KEY, "b": KEY}
    assert await keys.keys_for(CUSTOMER_SOURCE, {"a"}) == {"a": KEY}
    assert sorted(calls) == ["a", "b"]
    await keys.close()


async def test_an_erased_subject_is_remembered_and_yields_no_key() -> None:
    calls: list[str] = []
    keys = client(calls, {"gone": 410, "unknown": 404, "broken": 500})
    assert await keys.keys_for(CUSTOMER_SOURCE, {"gone", "unknown", "broken"}) == {}
    await keys.keys_for(CUSTOMER_SOURCE, {"gone", "unknown"})
    assert sorted(calls) == ["broken", "gone", "unknown"]
    await keys.close()


async def test_other_sources_are_not_asked() -> None:
    calls: list[str] = []
    keys = client(calls, {})
    assert await keys.keys_for("/customer360/ticketing", {"a"}) == {}
    assert calls == []
    await keys.close()
