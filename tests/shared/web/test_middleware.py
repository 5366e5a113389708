"""Request ids, correlation ids, the access log and the body size limit."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message

from shared.ops.logging import actor_var, correlation_id_var, request_id_var

from .conftest import MAX_BODY


@pytest.mark.asyncio
async def test_a_request_id_is_generated_as_a_uuid7_and_doubles_as_correlation_id(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/health/live")

    request_id = uuid.UUID(response.headers["X-Request-ID"])
    assert request_id.version == 7
    assert response.headers["X-Correlation-ID"] == str(request_id)


@pytest.mark.asyncio
async def test_ids_sent_by_the_client_are_echoed_and_visible_to_the_handler(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    headers = {
        **auth("customers:read", subject="agent-9"),
        "X-Request-ID": "req-123",
        "X-Correlation-ID": "corr-456",
    }

    response = await client.get("/v1/context", headers=headers)

    assert response.headers["X-Request-ID"] == "req-123"
    assert response.headers["X-Correlation-ID"] == "corr-456"
    assert response.json() == {"request_id": "req-123", "correlation_id": "corr-456", "actor": "agent-9"}


@pytest.mark.asyncio
async def test_the_logging_context_is_restored_after_the_request(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    await client.get("/v1/context", headers=auth("customers:read"))

    assert request_id_var.get() is None
    assert correlation_id_var.get() is None
    assert actor_var.get() is None


@pytest.mark.asyncio
async def test_unsafe_client_ids_are_replaced(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/health/live", headers={"X-Request-ID": 'x" injected=1', "X-Correlation-ID": "a" * 500}
    )

    assert uuid.UUID(response.headers["X-Request-ID"]).version == 7
    assert response.headers["X-Correlation-ID"] == response.headers["X-Request-ID"]


@pytest.mark.asyncio
async def test_each_request_is_access_logged_with_its_route_template(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="shared.web.access"):
        response = await client.get("/v1/widgets/42", headers=auth("customers:read"))

    [record] = [r for r in caplog.records if r.name == "shared.web.access"]
    fields: dict[str, Any] = record.__dict__
    assert fields["method"] == "GET"
    assert fields["route"] == "/v1/widgets/{widget_id}"
    assert fields["status"] == response.status_code == 200
    assert fields["duration_ms"] >= 0
    assert fields["actor"] == "tester"
    assert record.levelno == logging.INFO


@pytest.mark.asyncio
async def test_probes_are_logged_quietly(client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="shared.web.access"):
        await client.get("/health/live")

    assert not [r for r in caplog.records if r.name == "shared.web.access"]


@pytest.mark.asyncio
async def test_a_body_within_the_limit_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/uploads", content=b"x" * MAX_BODY)

    assert response.status_code == 200
    assert response.json() == {"size": MAX_BODY}


@pytest.mark.asyncio
async def test_a_declared_oversized_body_is_a_413_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/uploads", content=b"x" * (MAX_BODY + 1))

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "https://customer360.dev/problems/payload-too-large"
    assert response.headers["X-Request-ID"]


@pytest.mark.asyncio
async def test_a_chunked_body_is_cut_off_at_the_limit(client: httpx.AsyncClient) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            sent.append(1000)
            yield b"y" * 1000

    response = await client.post("/v1/uploads", content=chunks())

    assert response.status_code == 413
    assert response.json()["status"] == 413
    assert sum(sent) < 10_000  # reading stopped at the limit instead of buffering everything


@pytest.mark.asyncio
async def test_a_content_length_that_lies_does_not_get_past_the_limit(app: FastAPI) -> None:
    chunks = [b"z" * 1000] * 6
    consumed = 0
    messages: list[Message] = []

    async def receive() -> Message:
        nonlocal consumed
        consumed += 1
        if consumed <= len(chunks):
            return {"type": "http.request", "body": chunks[consumed - 1], "more_body": consumed < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/uploads",
        "raw_path": b"/v1/uploads",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"demo"), (b"content-length", b"10")],
        "client": ("127.0.0.1", 50000),
        "server": ("demo", 80),
        "state": {},
    }

    await app(scope, receive, send)

    assert messages[0]["type"] == "http.response.start"
    assert messages[0]["status"] == 413
    assert consumed < len(chunks)
