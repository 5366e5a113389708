"""``create_service_app``: state, OpenAPI conventions, docs, and what it must not do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.web import platform_metrics

from .conftest import DemoSettings, client_for, make_app


@pytest.fixture
def openapi(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def test_the_app_keeps_its_settings_and_its_own_metrics_registry(
    app: FastAPI, settings: DemoSettings
) -> None:
    other = make_app()

    assert app.state.settings is settings
    assert app.state.metrics_registry is not other.state.metrics_registry


def test_building_the_app_does_not_start_the_service() -> None:
    started: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started.append("pools")
        yield

    make_app(lifespan=lifespan)

    assert started == []


def test_openapi_declares_the_bearer_scheme_and_marks_protected_routes(openapi: dict[str, Any]) -> None:
    scheme = openapi["components"]["securitySchemes"]["bearerAuth"]

    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    assert openapi["paths"]["/v1/reports"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in openapi["paths"]["/health/live"]["get"]


def test_the_bearer_scheme_is_declared_even_without_protected_routes() -> None:
    schema = make_app(routers=[]).openapi()

    assert "bearerAuth" in schema["components"]["securitySchemes"]


def test_openapi_documents_errors_as_problem_details(openapi: dict[str, Any]) -> None:
    create = openapi["paths"]["/v1/widgets"]["post"]["responses"]
    problem_ref = {"$ref": "#/components/schemas/Problem"}

    assert create["422"]["content"] == {"application/problem+json": {"schema": problem_ref}}
    assert create["4XX"]["content"] == {"application/problem+json": {"schema": problem_ref}}
    assert {"type", "title", "status", "detail", "instance", "request_id"} <= set(
        openapi["components"]["schemas"]["Problem"]["properties"]
    )
    assert "ValidationIssue" in openapi["components"]["schemas"]
    assert "HTTPValidationError" not in openapi["components"]["schemas"]
    assert "ValidationError" not in openapi["components"]["schemas"]


def test_openapi_documents_the_conditional_and_idempotency_headers(openapi: dict[str, Any]) -> None:
    create = {p["name"] for p in openapi["paths"]["/v1/widgets"]["post"].get("parameters", [])}
    update = {p["name"] for p in openapi["paths"]["/v1/customers/{customer_id}"]["put"]["parameters"]}

    assert "Idempotency-Key" in create
    assert "If-Match" in update


def test_openapi_carries_the_service_identity(openapi: dict[str, Any]) -> None:
    assert openapi["info"]["title"] == "Demo"
    assert openapi["info"]["version"] == "1.2.3"


@pytest.mark.asyncio
async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    schema = await client.get("/openapi.json")
    docs = await client.get("/docs")

    assert schema.status_code == 200
    assert schema.json()["components"]["schemas"]["Problem"]
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    assert (await client.get("/redoc")).status_code == 404


@pytest.mark.asyncio
async def test_platform_metrics_recorded_by_the_service_are_scraped(app: FastAPI) -> None:
    platform_metrics(app.state.metrics_registry).outbox_backlog.set(12)

    async with client_for(app) as client:
        text = (await client.get("/metrics")).text

    assert "outbox_backlog 12.0" in text
    assert "process_" in text or "python_info" in text


def _router_with_a_concrete_path_beside_a_template() -> Any:
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/v1/things/recent")
    async def recent() -> dict[str, str]:
        return {"list": "recent"}

    @router.get("/v1/things/{thing_id}")
    async def one(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    @router.patch("/v1/things/{thing_id}")
    async def change(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    return router


async def test_a_concrete_path_refuses_a_method_only_its_templated_neighbour_serves() -> None:
    """OpenAPI matches /v1/things/recent before /v1/things/{thing_id}: PATCH there is a 405 naming GET,
    not a 422 about a thing id that is not a number."""
    app = make_app(routers=[_router_with_a_concrete_path_beside_a_template()])
    async with client_for(app) as http:
        refused = await http.patch("/v1/things/recent")
        served = await http.get("/v1/things/recent")
        templated = await http.patch("/v1/things/7")

    assert refused.status_code == 405 and refused.headers["Allow"] == "GET"
    assert refused.headers["content-type"] == "application/problem+json"
    assert (served.status_code, served.json()) == (200, {"list": "recent"})
    assert (templated.status_code, templated.json()) == (200, {"id": 7})


def test_every_free_text_of_the_document_excludes_nul(openapi: dict[str, Any]) -> None:
    """PostgreSQL cannot store NUL, so the server refuses it; the document says so on every free text."""
    from shared.web.app import NO_NUL_PATTERN

    free: list[dict[str, Any]] = []

    def walk(schema: Any) -> None:
        if isinstance(schema, dict):
            if schema.get("type") == "string" and not {"enum", "format", "const"} & schema.keys():
                free.append(schema)
            for value in schema.values():
                walk(value)
        elif isinstance(schema, list):
            for value in schema:
                walk(value)

    for name, schema in openapi["components"]["schemas"].items():
        if name not in ("Problem", "ValidationIssue"):
            walk(schema)
    assert free, "the demo document has free texts"
    assert all("pattern" in schema for schema in free)
    assert any(schema["pattern"] == NO_NUL_PATTERN for schema in free)
