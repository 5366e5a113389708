"""A tiny demo service built with ``create_service_app``, exercising every part of the kit."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, ClassVar

import asyncpg
import httpx
import pytest
import pytest_asyncio
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from shared.errors import Conflict, Gone
from shared.ops.logging import actor_var, correlation_id_var, request_id_var
from shared.settings import ServiceSettings
from shared.store.versions import ensure_version_matches
from shared.web import (
    IdempotencyKey,
    IfMatchRequired,
    Principal,
    create_service_app,
    etag_for,
    mint_token,
    require,
)

SECRET = "test-secret-for-the-web-kit-0123456789abcdef"
MAX_BODY = 2048
CUSTOMER_ID = "0190f1c2-7a3b-7c4d-8e5f-000000000001"
OTHER_CUSTOMER_ID = "0190f1c2-7a3b-7c4d-8e5f-000000000002"
CURRENT_VERSION = 3

POSTGRES_DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://c360:c360@127.0.0.1:5432/c360_test")
KAFKA_BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


class DemoSettings(ServiceSettings):
    service_name: ClassVar[str] = "demo"


class WidgetCreate(BaseModel):
    name: str = Field(max_length=50)
    quantity: int = Field(ge=1)


def demo_router() -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.post("/widgets", status_code=201)
    async def create_widget(
        widget: WidgetCreate,
        principal: Annotated[Principal, Depends(require("customers:write"))],
        idempotency: IdempotencyKey,
    ) -> dict[str, Any]:
        """Create a widget."""
        return {
            "name": widget.name,
            "created_by": principal.subject,
            "idempotency": None
            if idempotency is None
            else {"key": idempotency.key, "fingerprint": idempotency.fingerprint, "scope": idempotency.scope},
        }

    @router.get("/widgets/{widget_id}")
    async def read_widget(
        widget_id: int, principal: Annotated[Principal, Depends(require("customers:read"))]
    ) -> JSONResponse:
        """Read a widget."""
        return JSONResponse({"widget_id": widget_id}, headers={"ETag": etag_for(CURRENT_VERSION)})

    @router.get("/customers/{customer_id}")
    async def read_customer(
        customer_id: str,
        principal: Annotated[Principal, Depends(require("customers:read", allow_self=True))],
    ) -> dict[str, str]:
        """Read a customer."""
        return {"customer_id": customer_id}

    @router.put("/customers/{customer_id}")
    async def update_customer(
        customer_id: str,
        expected: IfMatchRequired,
        principal: Annotated[Principal, Depends(require("customers:write", allow_self=True))],
    ) -> dict[str, Any]:
        """Update a customer."""
        ensure_version_matches(expected, CURRENT_VERSION)
        return {"customer_id": customer_id, "version": CURRENT_VERSION + 1}

    @router.get("/reports")
    async def report(principal: Annotated[Principal, Depends(require("analytics:read"))]) -> dict[str, str]:
        """A report."""
        return {"subject": principal.subject}

    @router.get("/context")
    async def context(principal: Annotated[Principal, Depends(require("customers:read"))]) -> dict[str, Any]:
        """What the logging context holds while a request is handled."""
        return {
            "request_id": request_id_var.get(),
            "correlation_id": correlation_id_var.get(),
            "actor": actor_var.get(),
        }

    @router.post("/uploads")
    async def upload(request: Request) -> dict[str, int]:
        """Count the bytes of a raw body."""
        return {"size": len(await request.body())}

    @router.get("/failures/conflict")
    async def conflict() -> None:
        """Always a duplicate."""
        raise Conflict("This email is already registered.", existing_customer_id=CUSTOMER_ID, status="x")

    @router.get("/failures/gone")
    async def gone() -> None:
        """Always erased."""
        raise Gone("The customer was erased.")

    @router.get("/failures/database-starting")
    async def database_starting() -> None:
        """The database refuses connections while it starts."""
        raise asyncpg.exceptions.CannotConnectNowError("the database system is starting up")

    @router.get("/failures/pool-closed")
    async def pool_closed() -> None:
        """The pool was closed under us."""
        raise asyncpg.exceptions.InterfaceError("pool is closed")

    @router.get("/failures/connection-refused")
    async def connection_refused() -> None:
        """Nothing listens on the database port."""
        raise ConnectionRefusedError(111, "Connect call failed ('10.1.2.3', 5432)")

    @router.get("/failures/bug")
    async def bug() -> None:
        """A programming error with a secret in its message."""
        raise RuntimeError("internal detail: password=hunter2 at /srv/app.py")

    @router.get("/failures/missing-file")
    async def missing_file() -> None:
        """A local file mistake is a bug, not an outage."""
        raise FileNotFoundError(2, "No such file", "/etc/c360/template.txt")

    return router


def make_settings(**overrides: Any) -> DemoSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "auth_jwt_secret": SECRET,
        "max_body_bytes": MAX_BODY,
        "database_url": "postgresql://unused@127.0.0.1:1/unused",
    }
    if overrides.get("environment", "test") not in ("local", "test"):
        values["service_token"] = "a-token-the-issuer-signed-with-keys-read"  # required there; unused here
    values.update(overrides)
    return DemoSettings(**values)


async def _ready(app: FastAPI) -> None:
    return None


async def _broken(app: FastAPI) -> None:
    if not getattr(app.state, "healthy", True):
        raise ConnectionRefusedError(111, "Connect call failed ('10.9.9.9', 5432) user=c360")


def make_app(settings: DemoSettings | None = None, **overrides: Any) -> FastAPI:
    arguments: dict[str, Any] = {
        "settings": settings or make_settings(),
        "title": "Demo",
        "description": "A demo service for the web kit tests.",
        "version": "1.2.3",
        "routers": [demo_router()],
        "lifespan": None,
        "readiness": {"always": _ready, "database": _broken},
    }
    arguments.update(overrides)
    return create_service_app(**arguments)


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo")


@pytest.fixture
def settings() -> DemoSettings:
    return make_settings()


@pytest.fixture
def app(settings: DemoSettings) -> FastAPI:
    return make_app(settings)


@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


@pytest.fixture
def token(settings: DemoSettings) -> Callable[..., str]:
    def mint(*scopes: str, customer_id: str | None = None, subject: str = "tester") -> str:
        return mint_token(settings, subject, scopes, customer_id=customer_id)

    return mint


@pytest.fixture
def auth(token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    def headers(*scopes: str, customer_id: str | None = None, subject: str = "tester") -> dict[str, str]:
        return {"Authorization": f"Bearer {token(*scopes, customer_id=customer_id, subject=subject)}"}

    return headers
