"""Every error answer is an RFC 9457 problem with the platform's standard members."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest

from shared.web.problems import PROBLEM_MEDIA_TYPE, is_dependency_unavailable

from .conftest import CUSTOMER_ID

STANDARD_MEMBERS = {"type", "title", "status", "detail", "instance", "request_id"}


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    assert body.keys() >= STANDARD_MEMBERS
    assert body["status"] == status
    assert body["type"] == f"https://customer360.dev/problems/{slug}"
    assert body["instance"] == response.request.url.path
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert body["title"] and body["detail"]
    return body


@pytest.mark.asyncio
async def test_invalid_body_is_a_422_listing_each_invalid_value_without_echoing_input(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    huge = "Z" * 1500
    response = await client.post(
        "/v1/widgets", json={"name": huge, "quantity": 0}, headers=auth("customers:write")
    )

    body = assert_problem(response, 422, "validation-error")
    by_field = {tuple(error["loc"]): error for error in body["errors"]}
    assert set(by_field) == {("body", "name"), ("body", "quantity")}
    assert by_field[("body", "name")]["type"] == "string_too_long"
    assert by_field[("body", "quantity")]["type"] == "greater_than_equal"
    assert all(set(error) == {"loc", "msg", "type"} for error in body["errors"])
    assert huge not in response.text
    assert "2 invalid values" in body["detail"]


@pytest.mark.asyncio
async def test_missing_body_field_is_a_422(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    response = await client.post("/v1/widgets", json={"name": "bolt"}, headers=auth("customers:write"))

    body = assert_problem(response, 422, "validation-error")
    assert body["errors"] == [{"loc": ["body", "quantity"], "msg": "Field required", "type": "missing"}]


@pytest.mark.asyncio
async def test_invalid_path_parameter_is_a_422_not_a_500(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    response = await client.get("/v1/widgets/not-a-number", headers=auth("customers:read"))

    body = assert_problem(response, 422, "validation-error")
    assert body["errors"][0]["loc"] == ["path", "widget_id"]


@pytest.mark.asyncio
async def test_body_that_is_not_json_is_a_400(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    response = await client.post(
        "/v1/widgets",
        content=b'{"name": "bolt", "quantity": ',
        headers={**auth("customers:write"), "Content-Type": "application/json"},
    )

    body = assert_problem(response, 400, "malformed-json")
    assert body["errors"][0]["type"] == "json_invalid"


@pytest.mark.asyncio
async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")

    body = assert_problem(response, 404, "not-found")
    assert body["detail"] == "Nothing exists at /v1/nothing-here."


@pytest.mark.asyncio
async def test_wrong_method_is_a_405_problem_that_keeps_the_allow_header(client: httpx.AsyncClient) -> None:
    response = await client.delete("/v1/widgets")

    body = assert_problem(response, 405, "method-not-allowed")
    assert body["title"] == "Method not allowed"
    assert response.headers["Allow"] == "POST"
    assert "DELETE is not allowed" in body["detail"]


@pytest.mark.asyncio
async def test_conflict_carries_its_extra_members_but_not_over_the_standard_ones(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v1/failures/conflict")

    body = assert_problem(response, 409, "conflict")
    assert body["existing_customer_id"] == CUSTOMER_ID
    assert body["detail"] == "This email is already registered."
    assert body["status"] == 409  # the error's extra "status" must not replace the HTTP status


@pytest.mark.asyncio
async def test_gone_is_a_410_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/failures/gone"), 410, "gone")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "path", ["/v1/failures/database-starting", "/v1/failures/pool-closed", "/v1/failures/connection-refused"]
)
async def test_lost_database_is_a_503_with_retry_after(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    body = assert_problem(response, 503, "dependency-unavailable")
    assert int(response.headers["Retry-After"]) > 0
    assert "10.1.2.3" not in response.text
    assert "starting up" not in body["detail"]


@pytest.mark.asyncio
async def test_unexpected_error_is_a_generic_500_logged_with_its_traceback(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="shared.web.problems"):
        response = await client.get("/v1/failures/bug")

    body = assert_problem(response, 500, "internal-error")
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert "request_id" in body["detail"]
    logged = [record.exc_info for record in caplog.records if record.exc_info]
    assert len(logged) == 1
    assert "hunter2" in str(logged[0][1])


@pytest.mark.asyncio
async def test_local_file_errors_are_bugs_not_outages(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/failures/missing-file")

    assert_problem(response, 500, "internal-error")
    assert "template.txt" not in response.text


def test_only_closed_pool_or_connection_interface_errors_count_as_outages() -> None:
    assert is_dependency_unavailable(asyncpg.exceptions.InterfaceError("connection is closed"))
    assert is_dependency_unavailable(asyncpg.exceptions.InterfaceError("pool is closing"))
    assert not is_dependency_unavailable(
        asyncpg.exceptions.InterfaceError("cannot perform operation: another operation is in progress")
    )
    assert is_dependency_unavailable(asyncpg.exceptions.TooManyConnectionsError("too many clients"))
    assert is_dependency_unavailable(asyncpg.exceptions.ConnectionDoesNotExistError("closed mid-query"))
    assert is_dependency_unavailable(OSError("Multiple exceptions: [Errno 111] Connect call failed"))
    assert is_dependency_unavailable(TimeoutError())
    # What a PostgreSQL restart raises for a statement in flight, and on a pooled connection afterwards.
    assert is_dependency_unavailable(asyncpg.exceptions.AdminShutdownError("terminating connection"))
    assert is_dependency_unavailable(
        asyncpg.exceptions.InternalClientError("cannot switch to state 12; another operation (2) is in progress")
    )
    assert is_dependency_unavailable(
        asyncpg.exceptions.InterfaceError("connection was closed in the middle of operation")
    )
    assert not is_dependency_unavailable(PermissionError(13, "denied"))
    assert not is_dependency_unavailable(ValueError("bug"))
