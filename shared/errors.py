"""Errors the application layer raises; the service kit maps each to one RFC 9457 problem.

Domain and application code raise these (pure Python, no HTTP imports); ``shared.web.problems``
turns them into ``application/problem+json`` answers in one place. ``extra`` lands in the problem body
(e.g. ``existing_customer_id`` on a duplicate registration, ``current_status`` on a bad transition).
"""

from __future__ import annotations

from typing import Any


class PlatformError(Exception):
    """Base of every expected, client-visible error."""

    status: int = 400
    title: str = "Bad request"
    slug: str = "bad-request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(PlatformError):
    """The request is well-formed but breaks a rule (422)."""

    status, title, slug = 422, "Invalid input", "invalid-input"


class NotFound(PlatformError):
    status, title, slug = 404, "Not found", "not-found"


class Conflict(PlatformError):
    """The request conflicts with the current state (duplicate, impossible transition)."""

    status, title, slug = 409, "Conflict", "conflict"


class ConcurrencyConflict(Conflict):
    """Another writer appended to the stream first (optimistic concurrency)."""

    title, slug = "Version conflict", "version-conflict"


class PreconditionFailed(PlatformError):
    """An ``If-Match`` version did not match (412)."""

    status, title, slug = 412, "Precondition failed", "precondition-failed"


class PreconditionRequired(PlatformError):
    status, title, slug = 428, "Precondition required", "precondition-required"


class Gone(PlatformError):
    """The resource existed and was erased or expired (410)."""

    status, title, slug = 410, "Gone", "gone"


class Unauthorized(PlatformError):
    status, title, slug = 401, "Unauthorized", "unauthorized"


class Forbidden(PlatformError):
    status, title, slug = 403, "Forbidden", "forbidden"


class PayloadTooLarge(PlatformError):
    status, title, slug = 413, "Payload too large", "payload-too-large"


class DependencyUnavailable(PlatformError):
    """A database or broker is down; the client may retry (503)."""

    status, title, slug = 503, "Service unavailable", "dependency-unavailable"
