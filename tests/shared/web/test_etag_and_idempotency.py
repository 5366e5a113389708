"""ETags / If-Match and the Idempotency-Key header."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from shared.errors import PlatformError
from shared.web import MalformedIfMatchError, etag_for, parse_if_match, request_fingerprint

from .conftest import CURRENT_VERSION, CUSTOMER_ID


def test_etags_are_strong_and_quoted() -> None:
    assert etag_for(7) == '"7"'
    assert etag_for(0) == '"0"'
    with pytest.raises(ValueError):
        etag_for(-1)


@pytest.mark.parametrize(
    ("header", "version"),
    [(None, None), ("*", None), ("", None), ("  ", None), ('"7"', 7), ('W/"7"', 7), (' "12" ', 12), ('"0"', 0)],
)
def test_if_match_names_a_version_or_any(header: str | None, version: int | None) -> None:
    assert parse_if_match(header) == version


@pytest.mark.parametrize("header", ["7", '"abc"', '"-1"', '"7", "8"', 'w/"7"', '"07"', '"7'])
def test_a_malformed_if_match_is_a_400(header: str) -> None:
    with pytest.raises(MalformedIfMatchError) as raised:
        parse_if_match(header)

    assert isinstance(raised.value, PlatformError)
    assert raised.value.status == 400


def test_an_etag_parses_back_to_its_version() -> None:
    assert parse_if_match(etag_for(41)) == 41


@pytest.mark.asyncio
async def test_resources_carry_their_version_as_etag(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    response = await client.get("/v1/widgets/1", headers=auth("customers:read"))

    assert response.headers["ETag"] == etag_for(CURRENT_VERSION)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("if_match", "status", "slug"),
    [
        (None, 428, "precondition-required"),
        ("*", 428, "precondition-required"),
        ('"2"', 412, "precondition-failed"),
        ("seven", 400, "malformed-if-match"),
    ],
)
async def test_updates_check_if_match(
    client: httpx.AsyncClient,
    auth: Callable[..., dict[str, str]],
    if_match: str | None,
    status: int,
    slug: str,
) -> None:
    headers = auth("customers:write")
    if if_match is not None:
        headers["If-Match"] = if_match

    response = await client.put(f"/v1/customers/{CUSTOMER_ID}", headers=headers)

    assert response.status_code == status
    assert response.json()["type"] == f"https://customer360.dev/problems/{slug}"


@pytest.mark.asyncio
async def test_an_update_with_the_current_version_goes_through(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    headers = {**auth("customers:write"), "If-Match": etag_for(CURRENT_VERSION)}

    response = await client.put(f"/v1/customers/{CUSTOMER_ID}", headers=headers)

    assert response.status_code == 200
    assert response.json()["version"] == CURRENT_VERSION + 1


@pytest.mark.asyncio
async def test_a_failed_if_match_tells_the_current_etag(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    headers = {**auth("customers:write"), "If-Match": '"1"'}

    response = await client.put(f"/v1/customers/{CUSTOMER_ID}", headers=headers)

    assert response.json()["current_etag"] == etag_for(CURRENT_VERSION)


@pytest.mark.asyncio
async def test_without_idempotency_key_there_is_no_idempotency_request(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    response = await client.post(
        "/v1/widgets", json={"name": "bolt", "quantity": 1}, headers=auth("customers:write")
    )

    assert response.status_code == 201
    assert response.json()["idempotency"] is None


@pytest.mark.asyncio
async def test_an_idempotency_key_is_scoped_to_caller_method_and_route(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    headers = {**auth("customers:write", subject="agent-5"), "Idempotency-Key": "order-2024-0001"}

    response = await client.post("/v1/widgets", json={"name": "bolt", "quantity": 1}, headers=headers)

    idempotency = response.json()["idempotency"]
    assert idempotency["key"] == "order-2024-0001"
    assert idempotency["scope"] == "agent-5 POST /v1/widgets"
    assert len(idempotency["fingerprint"]) == 64


@pytest.mark.asyncio
async def test_the_fingerprint_is_stable_for_the_same_request_and_changes_with_the_body(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    headers = {**auth("customers:write"), "Idempotency-Key": "k-1", "Content-Type": "application/json"}

    async def fingerprint(body: bytes) -> str:
        response = await client.post("/v1/widgets", content=body, headers=headers)
        assert response.status_code == 201, response.text
        return str(response.json()["idempotency"]["fingerprint"])

    first = await fingerprint(b'{"name": "bolt", "quantity": 1}')
    again = await fingerprint(b'{"name": "bolt", "quantity": 1}')
    other = await fingerprint(b'{"name": "bolt", "quantity": 2}')

    assert first == again
    assert other != first
    assert first == request_fingerprint("POST", "/v1/widgets", b"", b'{"name": "bolt", "quantity": 1}')


def test_the_fingerprint_covers_method_path_query_and_body_unambiguously() -> None:
    base = request_fingerprint("POST", "/v1/widgets", b"", b"{}")

    assert request_fingerprint("POST", "/v1/widgets", b"", b"{}") == base
    assert request_fingerprint("PUT", "/v1/widgets", b"", b"{}") != base
    assert request_fingerprint("POST", "/v1/gadgets", b"", b"{}") != base
    assert request_fingerprint("POST", "/v1/widgets", b"dry_run=1", b"{}") != base
    assert request_fingerprint("POST", "/v1/widgets", b"", b"{ }") != base
    assert request_fingerprint("POST", "/v1/ab", b"", b"c") != request_fingerprint(
        "POST", "/v1/a", b"", b"bc"
    )


@pytest.mark.asyncio
@pytest.mark.parametrize("key", ["", "   ", "k" * 256, "clé-unique", "tab\there"])
async def test_an_invalid_idempotency_key_is_a_422(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]], key: str
) -> None:
    headers = {**auth("customers:write"), "Idempotency-Key": key}

    response = await client.post(
        "/v1/widgets", json={"name": "bolt", "quantity": 1}, headers=httpx.Headers(headers, encoding="utf-8")
    )

    assert response.status_code == 422
    body = response.json()
    assert body["header"] == "Idempotency-Key"
    assert "255" in body["detail"]


@pytest.mark.asyncio
async def test_the_longest_allowed_idempotency_key_is_accepted(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    headers = {**auth("customers:write"), "Idempotency-Key": "k" * 255}

    response = await client.post("/v1/widgets", json={"name": "bolt", "quantity": 1}, headers=headers)

    assert response.status_code == 201
