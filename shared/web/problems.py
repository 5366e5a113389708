"""RFC 9457 problem details: the one shape every error answer takes.

Clients of four services handle one error format, so the mapping from exceptions to answers lives
here and nowhere else. Application code raises ``shared.errors.PlatformError`` subclasses (pure
Python, no HTTP); this module turns them, FastAPI's validation errors, Starlette's routing errors,
lost database connections and unexpected bugs into ``application/problem+json``.

Two rules shape it:

- Bad input is never a 500, and a 500 never leaks: the traceback goes to the log (with the request
  id), the client gets a generic sentence and the request id to quote.
- Validation errors never echo the input: a 5 MB string in a field must not come back in the answer
  (nor personal data into a proxy's log), so only ``loc``, ``msg`` and ``type`` are kept.

A dependency that is down (PostgreSQL refusing connections, a closed pool) is a 503 with
``Retry-After``, so load balancers and clients back off instead of treating it as a bug.
"""

from __future__ import annotations

import http
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import asyncpg
import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from shared import errors
from shared.ops.logging import request_id_var
from shared.store.db import TRANSIENT_DATABASE_ERRORS
from shared.web.asgi import HttpMiddleware
from shared.web.etag import etag_for

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
PROBLEM_TYPE_BASE: Final = "https://customer360.dev/problems/"
RETRY_AFTER_SECONDS: Final = 5
"""What a 503 asks clients to wait: long enough for a pool to reconnect, short enough to feel live."""

MAX_VALIDATION_ISSUES: Final = 50
_MAX_MESSAGE_CHARS: Final = 300
_GENERIC_500_DETAIL: Final = "An unexpected error occurred. It has been logged; quote the request_id when reporting it."
_RESERVED_MEMBERS: Final = frozenset({"type", "title", "status", "detail", "instance", "request_id"})

# Errors about the client's request that Starlette/FastAPI raise as HTTPException; we reuse the
# platform's own titles and slugs so a 404 from the router and a NotFound from a handler share a type.
_KNOWN_STATUS: Final[Mapping[int, type[errors.PlatformError]]] = {
    400: errors.PlatformError,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    410: errors.Gone,
    412: errors.PreconditionFailed,
    413: errors.PayloadTooLarge,
    422: errors.InvalidInput,
    428: errors.PreconditionRequired,
    503: errors.DependencyUnavailable,
}

# asyncpg raises InterfaceError for both "the pool/connection went away" (a dependency problem) and
# API misuse (a bug). Only the former is worth a retry.
# ("connection was closed in the middle of operation" is what a server restart mid-query looks like.)
_CLOSED_RESOURCE = re.compile(r"\b(pool|connection) (is|was) (closed|closing|not initialized)\b", re.IGNORECASE)

# OSError covers "connection refused" (asyncpg raises a bare OSError when every address fails) but
# also local file-system mistakes, which are bugs, not outages.
_LOCAL_OS_ERRORS: Final = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)

# The database away or restarting, a deadlock or serialization failure that survived the unit of
# work's retries, a cancelled statement: the request itself was fine, so it is a 503 the client may
# retry, never a 500.
_DEPENDENCY_ERRORS: Final[tuple[type[Exception], ...]] = TRANSIENT_DATABASE_ERRORS

# Text PostgreSQL cannot store (a NUL character, valid JSON "\u0000") can only come from a client's
# input: it is a 422, never a 500. Which field held it is unknown here, so the detail stays general.
_UNSTORABLE_TEXT_ERRORS: Final[tuple[type[Exception], ...]] = (
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
)

logger = logging.getLogger("shared.web.problems")


class ValidationIssue(BaseModel):
    """One invalid part of a request: where it is, what is wrong, and a machine-readable kind."""

    loc: list[str | int] = Field(description="Path to the offending value, e.g. ['body', 'email'].")
    msg: str = Field(description="Human-readable explanation.")
    type: str = Field(description="Machine-readable error kind, e.g. 'missing' or 'string_too_long'.")


class Problem(BaseModel):
    """An RFC 9457 problem details body, as every error answer of the platform carries it.

    Error-specific members (``errors`` for validation, ``existing_customer_id`` on a duplicate, ...)
    appear next to the standard ones.
    """

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="URI naming the kind of problem.")
    title: str = Field(description="Short, stable summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong with this request.")
    instance: str = Field(description="The request path that produced the problem.")
    request_id: str | None = Field(description="Quote it when reporting the problem; it is in our logs.")
    errors: list[ValidationIssue] | None = Field(
        default=None, description="Present on validation problems: one entry per invalid value."
    )


class ProblemResponse(Response):
    """An ``application/problem+json`` response encoded with orjson."""

    media_type = PROBLEM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        """Encode the body; UUIDs, datetimes and decimals become strings."""
        return orjson.dumps(content, default=str)


def problem_type(slug: str) -> str:
    """The ``type`` URI of a problem kind, e.g. ``https://customer360.dev/problems/not-found``."""
    return f"{PROBLEM_TYPE_BASE}{slug}"


def problem_response(
    *,
    status: int,
    title: str,
    slug: str,
    detail: str,
    instance: str,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ProblemResponse:
    """Build a problem answer; ``extra`` members are added but never replace the standard ones.

    ``request_id`` is taken from the current request's context (set by the request-context
    middleware), so any code path can build a problem without threading the id through.
    """
    body = {key: value for key, value in (extra or {}).items() if key not in _RESERVED_MEMBERS}
    body.update(
        type=problem_type(slug),
        title=title,
        status=status,
        detail=detail,
        instance=instance,
        request_id=request_id_var.get(),
    )
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


def problem_of(
    kind: errors.PlatformError | type[errors.PlatformError],
    *,
    detail: str,
    instance: str,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ProblemResponse:
    """A problem answer for a platform error (class or instance), with the status, title and slug it declares.

    Read from the error in this one place, so a problem the mapping builds itself (unstorable text, an
    unreachable dependency) cannot drift from the one the error would give when raised.
    """
    status, title, slug = kind.status, kind.title, kind.slug
    return problem_response(
        status=status, title=title, slug=slug, detail=detail, instance=instance, headers=headers, extra=extra
    )


def problem_for_exception(exc: BaseException, scope: Scope) -> Response:
    """Map any exception to the problem answer the platform gives for it (and log what needs logging).

    This is the single mapping: the installed exception handlers and the last-resort middleware both
    call it, so an error is described the same way wherever it is caught.
    """
    instance = _instance(scope)
    if isinstance(exc, errors.PlatformError):
        return _platform_problem(exc, instance)
    if isinstance(exc, RequestValidationError):
        return _validation_problem(exc, instance)
    if isinstance(exc, HTTPException):
        return _http_problem(exc, scope, instance)
    if isinstance(exc, _UNSTORABLE_TEXT_ERRORS):
        return problem_of(
            errors.InvalidInput,
            detail="The request contains text that cannot be stored (for example a NUL character).",
            instance=instance,
        )
    if is_dependency_unavailable(exc):
        logger.warning(
            "dependency unavailable: %s: %s",
            type(exc).__name__,
            exc,
            extra={"error_type": type(exc).__name__},
        )
        return problem_of(
            errors.DependencyUnavailable,
            detail="A service this request depends on is unavailable. Retry later.",
            instance=instance,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    logger.error(
        "unhandled error while serving %s %s",
        scope.get("method", "?"),
        instance,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return problem_response(
        status=500,
        title="Internal server error",
        slug="internal-error",
        detail=_GENERIC_500_DETAIL,
        instance=instance,
    )


def is_dependency_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means a database or broker cannot be reached (worth a 503 and a retry)."""
    if isinstance(exc, asyncpg.exceptions.InterfaceError):
        return bool(_CLOSED_RESOURCE.search(str(exc)))
    if isinstance(exc, OSError):
        return not isinstance(exc, _LOCAL_OS_ERRORS)
    return isinstance(exc, _DEPENDENCY_ERRORS)


def install_problem_handlers(app: FastAPI) -> None:
    """Register the problem mapping for every exception family the platform knows about.

    Anything else is caught by ``shared.web.middleware.UnhandledErrorMiddleware`` (which calls the
    same mapping) so that no exception escapes to the server as a plain-text 500.
    """
    families: Sequence[type[Exception]] = (
        errors.PlatformError,
        RequestValidationError,
        HTTPException,
        *_DEPENDENCY_ERRORS,
        *_UNSTORABLE_TEXT_ERRORS,
    )
    for family in families:
        app.add_exception_handler(family, _handle)


async def _handle(request: Request, exc: Exception) -> Response:
    return problem_for_exception(exc, request.scope)


def _platform_problem(exc: errors.PlatformError, instance: str) -> Response:
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="customer360"')
    if exc.status == 503:
        headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
        logger.warning("dependency unavailable: %s", exc.detail)
    return problem_of(exc, detail=exc.detail, instance=instance, headers=headers, extra=_http_members(exc))


def _http_members(exc: errors.PlatformError) -> Mapping[str, Any]:
    """The error's extra members, with a version the client must use shown as the ETag it knows."""
    if isinstance(exc, errors.PreconditionFailed) and "current_version" in exc.extra:
        extra = dict(exc.extra)
        extra["current_etag"] = etag_for(extra.pop("current_version"))
        return extra
    return exc.extra


def _validation_problem(exc: RequestValidationError, instance: str) -> Response:
    raw = list(exc.errors())
    issues = [_issue(error) for error in raw[:MAX_VALIDATION_ISSUES]]
    if any(issue["type"] == "json_invalid" for issue in issues):
        return problem_response(
            status=400,
            title="Malformed JSON",
            slug="malformed-json",
            detail="The request body is not valid JSON.",
            instance=instance,
            extra={"errors": issues},
        )
    count = len(raw)
    detail = f"The request has {count} invalid value{'s' if count != 1 else ''}."
    if count > MAX_VALIDATION_ISSUES:
        detail += f" The first {MAX_VALIDATION_ISSUES} are listed."
    return problem_response(
        status=422,
        title="Validation failed",
        slug="validation-error",
        detail=detail,
        instance=instance,
        extra={"errors": issues},
    )


def _issue(error: Any) -> dict[str, Any]:
    """Keep only where/what/kind; ``input`` and ``ctx`` may be huge or personal, so they are dropped."""
    if not isinstance(error, Mapping):
        return {"loc": [], "msg": _clip(str(error)), "type": "invalid"}
    loc = [part if isinstance(part, int) else _clip(str(part)) for part in error.get("loc", ())]
    return {"loc": loc, "msg": _clip(str(error.get("msg", ""))), "type": str(error.get("type", "invalid"))}


def _http_problem(exc: HTTPException, scope: Scope, instance: str) -> Response:
    status = exc.status_code
    headers = dict(exc.headers or {})
    if status == 405:
        allowed = allowed_methods(scope)
        if allowed:
            headers = {k: v for k, v in headers.items() if k.lower() != "allow"}
            headers["Allow"] = ", ".join(allowed)
    if status < 400 or status in (204, 304):
        return Response(status_code=status, headers=headers)
    known = _KNOWN_STATUS.get(status)
    phrase = _phrase(status)
    title = known.title if known else phrase[:1] + phrase[1:].lower()
    slug = known.slug if known else _slugify(phrase)
    detail = exc.detail if isinstance(exc.detail, str) else ""
    if not detail or detail in (phrase, http.client.responses.get(status)):
        detail = _default_detail(status, scope, headers, instance)
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="customer360"')
    if status == 503:
        headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return problem_response(status=status, title=title, slug=slug, detail=detail, instance=instance, headers=headers)


def allowed_methods(scope: Scope) -> list[str]:
    """Every method the API serves at the request's path, for a 405's ``Allow`` header.

    Starlette answers 405 from the first route whose path matched, so it names only that route's
    methods; FastAPI registers one route per method (``GET`` and ``PATCH`` of ``/v1/customers/{id}``
    are two routes), and a client would be told the path serves less than it does. The answer is
    read from the app's own OpenAPI document, the most specific path template first (a literal
    ``/v1/customers/duplicates`` before ``/v1/customers/{customer_id}``), exactly as a client reads it.
    Empty for paths the document does not describe (the caller then keeps Starlette's answer).
    """
    table = _allow_table_of(scope)
    path = scope.get("path", "")
    for templates in table:
        methods = {m for pattern, served in templates if pattern.fullmatch(path) for m in served}
        if methods:
            return sorted(methods)
    return []


def _allow_table_of(scope: Scope) -> list[list[tuple[re.Pattern[str], frozenset[str]]]]:
    app = scope.get("app")
    openapi = getattr(app, "openapi", None)
    if openapi is None:
        return []
    table = _ALLOW_TABLES.get(id(app))
    if table is None:
        table = _allow_table(openapi())
        _ALLOW_TABLES[id(app)] = table
    return table


class ConcretePathMiddleware(HttpMiddleware):
    """A concrete path answers only its own methods, never a templated neighbour's (405 otherwise).

    OpenAPI matches ``/v1/imports/batches`` before ``/v1/imports/{job_id}``; Starlette matches routes in
    order and would hand ``GET /v1/imports/batches`` to the job route, answering a 422 about a job id.
    A client reading the document expects 405 with the concrete path's ``Allow``; so does this.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = _concrete_path_refusal(scope)
        if refused is None:
            await self.app(scope, receive, send)
            return
        instance = _instance(scope)
        headers = {"Allow": ", ".join(refused)}
        response = problem_response(
            status=405,
            title="Method not allowed",
            slug="method-not-allowed",
            detail=_default_detail(405, scope, headers, instance),
            instance=instance,
            headers=headers,
        )
        await response(scope, receive, send)


def _concrete_path_refusal(scope: Scope) -> list[str] | None:
    """The concrete path's methods when it does not serve this method but a template would take it."""
    method, path = scope.get("method", ""), scope.get("path", "")
    table = _allow_table_of(scope)
    if not table or method in ("HEAD", "OPTIONS"):
        return None
    concrete = [served for pattern, served in table[0] if "[^/]+" not in pattern.pattern and pattern.fullmatch(path)]
    if not concrete or any(method in served for served in concrete):
        return None
    templated = any(method in served for group in table[1:] for pattern, served in group if pattern.fullmatch(path))
    return sorted({m for served in concrete for m in served}) if templated else None


_ALLOW_TABLES: dict[int, list[list[tuple[re.Pattern[str], frozenset[str]]]]] = {}
_HTTP_METHODS: Final = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def _allow_table(document: Mapping[str, Any]) -> list[list[tuple[re.Pattern[str], frozenset[str]]]]:
    """Path templates as regexes with their methods, grouped by how many parameters they have."""
    groups: dict[int, list[tuple[re.Pattern[str], frozenset[str]]]] = {}
    for template, item in document.get("paths", {}).items():
        methods = frozenset(m.upper() for m in item if m in _HTTP_METHODS)
        pattern = re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)))
        groups.setdefault(template.count("{"), []).append((pattern, methods))
    return [groups[count] for count in sorted(groups)]


def _default_detail(status: int, scope: Scope, headers: Mapping[str, str], instance: str) -> str:
    method = scope.get("method", "")
    if status == 404:
        return f"Nothing exists at {instance}."
    if status == 405:
        allowed = headers.get("Allow") or headers.get("allow")
        suffix = f" Allowed: {allowed}." if allowed else ""
        return f"{method} is not allowed on {instance}.{suffix}"
    if status == 413:
        return "The request body is larger than this service accepts."
    return _phrase(status) + "."


def _instance(scope: Scope) -> str:
    path = scope.get("path")
    return path if isinstance(path, str) and path else "/"


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _slugify(phrase: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", phrase.lower()).strip("-") or "error"


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[: _MAX_MESSAGE_CHARS - 1] + "…"
