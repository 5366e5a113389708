"""HTTP helpers the privacy tests share: wait for an eventually-true answer, insist on a status."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx

from shared.testing.waiting import eventually_answered


def wait_for(check: Callable[[], Any], *, timeout: float, what: str, every: float = 0.3) -> Any:
    """Poll ``check`` until it answers something truthy; the platform is eventually consistent."""
    return eventually_answered(check, timeout=timeout, what=what, interval=every,
                               tolerate=(httpx.HTTPError, KeyError, ValueError))


def expect(response: httpx.Response, status: int) -> dict[str, Any]:
    """The JSON body of a response that must have this status (the message shows what came instead)."""
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    body: dict[str, Any] = response.json() if response.content else {}
    return body


def fresh_key() -> dict[str, str]:
    """An ``Idempotency-Key`` header no earlier command used."""
    return {"Idempotency-Key": str(uuid.uuid4())}
