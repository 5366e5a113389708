"""``create_service_app``: the one way a service becomes a FastAPI app.

Four services, one behaviour: the same error format, ids, access log, body limit, metrics, health
routes and OpenAPI conventions, so an operator (or a client) who knows one service knows all four.

Nothing is built at import time. The factory only wires objects together; connection pools are
created by the service's ``lifespan`` inside the running event loop and stored on ``app.state``,
and readiness checks reach them through the app they are given.

JSON encoding: FastAPI's default response class is kept on purpose. For routes that declare a
response model (all of ours: ``XRead`` schemas) FastAPI serialises straight to bytes in pydantic's
Rust core, the fastest path available; naming any custom default class (``ORJSONResponse``, now
deprecated upstream) would switch that path off. Problem answers and health bodies use orjson.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final, TypeVar

from fastapi import APIRouter, FastAPI

from shared.ops.metrics import create_registry, platform_metrics
from shared.ops.observability import consumer_lag_refresher, outbox_refresher
from shared.settings import ServiceSettings
from shared.store.db import create_pool
from shared.web.audit import audit_part_router
from shared.web.auth import BEARER_SCHEME_NAME, validate_auth_settings
from shared.web.health import ReadinessCheck, health_router, kafka_check, postgres_check
from shared.web.metrics import MetricsMiddleware, metrics_router
from shared.web.middleware import (
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    SimulatedTimeMiddleware,
    UnhandledErrorMiddleware,
)
from shared.web.problems import PROBLEM_MEDIA_TYPE, ConcretePathMiddleware, Problem, install_problem_handlers
from shared.web.session import session_router
from shared.web.token_cache import VerifiedTokens

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
"""A service's start-up/shutdown: create pools and clients on entry, close them on exit."""

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)

OpenApiRefiner = Callable[[FastAPI, dict[str, Any]], None]
"""Completes the OpenAPI document with what only the configured app knows (e.g. allowed values)."""


def app_settings(app: FastAPI, kind: type[SettingsT]) -> SettingsT:
    """The settings ``create_service_app`` stored, as the service's own settings type.

    Each service's ``bootstrap.py`` builds its app from exactly its settings type, so any other value
    is a wiring bug: it fails here, loudly, instead of a route quietly falling back to defaults.
    """
    settings = app.state.settings
    if not isinstance(settings, kind):
        raise TypeError(f"the app was built with {type(settings).__name__}, not {kind.__name__}")
    return settings


class DocumentedRouter(APIRouter):
    """An ``APIRouter`` whose routes' limits may depend on configuration, stated in the document.

    A limit the server enforces from settings (the configured transfer reasons, say) belongs in the
    OpenAPI document as much as a field's length does; ``openapi_refiners`` are run on the document
    once, with the app (and so its ``state.settings``), when ``create_service_app`` built it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.openapi_refiners: list[OpenApiRefiner] = []

_PROBLEM_REF: Final = "#/components/schemas/Problem"
_FASTAPI_VALIDATION_SCHEMAS: Final = ("HTTPValidationError", "ValidationError")


class ServiceApp(FastAPI):
    """A FastAPI app whose OpenAPI document describes the platform's conventions.

    Every operation documents ``4XX`` answers as ``application/problem+json``, FastAPI's own 422
    schema is replaced by ours, and the bearer scheme is declared even before any route uses it, so
    ``/docs`` always has an Authorize button.
    """

    openapi_refiners: Sequence[OpenApiRefiner] = ()

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document, built once and cached."""
        if self.openapi_schema is None:
            document = _with_problem_responses(_strings_without_nul(_parameters_without_null(super().openapi())))
            for refine in self.openapi_refiners:
                refine(self, document)
            self.openapi_schema = document
        return self.openapi_schema


def create_service_app(
    *,
    settings: ServiceSettings,
    title: str,
    description: str,
    version: str,
    routers: Sequence[APIRouter],
    lifespan: Lifespan | None,
    readiness: Mapping[str, ReadinessCheck],
    consumer_groups: Sequence[str] = (),
) -> FastAPI:
    """Build a service's app: problems, ids, access log, body limit, metrics, health, OpenAPI, routers.

    ``readiness`` maps a check name to ``async (app) -> None`` (raise when not ready); checks that
    hold resources (``KafkaCheck``) are closed when the app shuts down. ``app.state.settings`` and
    ``app.state.metrics_registry`` are set here; the service's ``lifespan`` adds its own state.

    Platform gauges come for free: when the lifespan puts a pool on ``app.state.pool`` the outbox
    backlog and age are read on every scrape; an ``app.state.store`` (event store) counts committed
    appends; ``consumer_groups`` (logical names; the topic prefix is applied) get a lag gauge.
    """
    validate_auth_settings(settings)
    registry = create_registry()
    app = ServiceApp(
        title=title,
        description=description,
        version=version,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=_lifespan_closing_checks(lifespan, readiness),
        swagger_ui_parameters={"persistAuthorization": True},
    )
    app.state.settings = settings
    app.state.metrics_registry = registry
    app.state.verified_tokens = VerifiedTokens(max_age_seconds=settings.auth_token_cache_seconds)
    app.openapi_refiners = [r for router in routers for r in getattr(router, "openapi_refiners", ())]
    app.state.metrics_refreshers = [
        outbox_refresher(lambda app: app.state.pool),
        *(
            [consumer_lag_refresher(settings.kafka_bootstrap_servers,
                                    [f"{settings.kafka_topic_prefix}{g}" for g in consumer_groups])]
            if consumer_groups
            else []
        ),
    ]

    install_problem_handlers(app)
    # add_middleware wraps what is already there, so the innermost goes first.
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(ConcretePathMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes,
                       larger={("POST", "/v1/imports"): settings.import_max_body_bytes})
    app.add_middleware(MetricsMiddleware, registry=registry)
    app.add_middleware(RequestContextMiddleware)
    if settings.environment in ("local", "test"):
        app.add_middleware(SimulatedTimeMiddleware)

    app.include_router(health_router(readiness))
    app.include_router(metrics_router())
    app.include_router(session_router())
    app.include_router(audit_part_router())
    for router in routers:
        app.include_router(router)
    return app


def database_lifespan(
    dsn: str, settings: ServiceSettings, *, state: Mapping[str, Any], then: Lifespan | None = None
) -> Lifespan:
    """A service app's start-up: its pool on ``app.state.pool``, then ``state`` (store, clock, ...) beside it.

    The pool is created here, inside the running loop, never when the app is built; ``then`` is the
    service's own start-up (a listener, say), run with the pool open and closed before the pool is.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await create_pool(
            dsn, min_size=settings.db_pool_min, max_size=settings.db_pool_max, reset_session=False
        )
        for name, value in state.items():
            setattr(app.state, name, value)
        try:
            if then is None:
                yield
            else:
                async with then(app):
                    yield
        finally:
            await app.state.pool.close()

    return lifespan


def platform_readiness(settings: ServiceSettings) -> dict[str, ReadinessCheck]:
    """Ready when the app's pool answers and the Kafka cluster does: what every service needs to serve."""
    return {
        "postgres": postgres_check(lambda app: app.state.pool),
        "kafka": kafka_check(settings.kafka_bootstrap_servers),
    }


def _lifespan_closing_checks(
    lifespan: Lifespan | None, readiness: Mapping[str, ReadinessCheck]
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    store = getattr(app.state, "store", None)
                    if store is not None and getattr(store, "metrics", False) is None:
                        store.metrics = platform_metrics(app.state.metrics_registry)
                    yield
        finally:
            await _close_checks(readiness.values())

    return run


async def _close_checks(checks: Iterable[ReadinessCheck]) -> None:
    loop = asyncio.get_running_loop()
    for check in checks:
        close = getattr(check, "close", None)
        if close is None:
            continue
        if inspect.iscoroutinefunction(close):
            await close()
        else:
            # Closing a blocking client (kafka-python) blocks too: keep it off the event loop.
            await loop.run_in_executor(None, close)


def _parameters_without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter or header is left out, never sent as ``null``: drop that branch.

    FastAPI documents ``str | None = None`` as ``anyOf [string, null]``; on the wire "null" would be
    the four-letter string, which the server does not read as "absent". The document says what is
    really accepted: the non-null schema, with ``required: false``.
    """
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", ()):
                parameter_schema = parameter.get("schema", {})
                branches = parameter_schema.get("anyOf")
                if not branches or {"type": "null"} not in branches:
                    continue
                rest = [b for b in branches if b != {"type": "null"}]
                del parameter_schema["anyOf"]
                if len(rest) == 1:
                    parameter_schema.update({k: v for k, v in rest[0].items() if k not in parameter_schema})
                else:
                    parameter_schema["anyOf"] = rest
    return schema


NO_NUL_PATTERN: Final = r"^[^\x00]*$"


def _strings_without_nul(document: dict[str, Any]) -> dict[str, Any]:
    """No text may hold a NUL character: PostgreSQL cannot store one, so the server answers 422.

    Said on every free text of the document (those without a pattern, enum or format of their own),
    so a client learns the rule from the document rather than from a refusal.
    """
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        if name not in ("Problem", *_FASTAPI_VALIDATION_SCHEMAS):  # answers may quote what was refused
            _forbid_nul(schema)
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict):
                for parameter in operation.get("parameters", ()):
                    _forbid_nul(parameter.get("schema", {}))
    return document


def _forbid_nul(schema: Any) -> None:
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string" and not {"pattern", "enum", "format", "const"} & schema.keys():
        schema["pattern"] = NO_NUL_PATTERN
    for key in ("properties", "patternProperties", "$defs"):
        for child in schema.get(key, {}).values():
            _forbid_nul(child)
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for child in schema.get(key, ()):
            _forbid_nul(child)
    for key in ("items", "additionalProperties", "not"):
        _forbid_nul(schema.get(key))


def _with_problem_responses(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["Problem"] = problem_schema
    components.setdefault("securitySchemes", {}).setdefault(
        BEARER_SCHEME_NAME, {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    problem_content = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _PROBLEM_REF}}}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if "422" in responses:
                responses["422"] = {"description": "Validation failed", "content": problem_content}
            responses.setdefault(
                "4XX", {"description": "Client error (RFC 9457 problem details)", "content": problem_content}
            )
    # FastAPI's validation schemas are now unused (each refers to the next): drop them in order.
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        if f'"#/components/schemas/{name}"' not in json.dumps(schema):
            schemas.pop(name, None)
    return schema
