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
