"""The FastAPI service kit: what every service's HTTP side is built from.

``create_service_app`` wires it all; the rest is what routes use:

- ``require(*scopes, allow_self=False)`` / ``Principal``: bearer JWT auth and scope checks
- ``IdempotencyKey`` / ``IdempotencyRequest``: the ``Idempotency-Key`` header, validated and
  fingerprinted for ``shared.store.idempotent_commands`` to store
- ``IfMatch`` / ``IfMatchRequired`` / ``etag_for``: optimistic concurrency over HTTP
- ``problem_response`` and the handlers in ``problems``: RFC 9457 answers for every error
- ``platform_metrics(registry)``: instruments for the event store, relay and consumers
- ``postgres_check`` / ``kafka_check``: ready-made readiness checks
"""

from shared.ops.metrics import PlatformMetrics, create_registry, platform_metrics
from shared.store.idempotent_commands import IdempotencyRequest
from shared.web.app import DocumentedRouter, Lifespan, OpenApiRefiner, ServiceApp, create_service_app
from shared.web.auth import (
    KNOWN_SCOPES,
    InsufficientScope,
    InvalidToken,
    MissingToken,
    Principal,
    current_principal,
    decode_token,
    mint_token,
    optional_principal,
    require,
)
from shared.web.etag import (
    IfMatch,
    IfMatchRequired,
    MalformedIfMatchError,
    etag_for,
    if_match,
    parse_if_match,
    require_if_match,
)
from shared.web.health import KafkaCheck, ReadinessCheck, kafka_check, postgres_check, run_checks
from shared.web.idempotency_key import (
    IdempotencyKey,
    idempotency_request,
    request_fingerprint,
)
from shared.web.problems import (
    PROBLEM_MEDIA_TYPE,
    Problem,
    install_problem_handlers,
    problem_for_exception,
    problem_response,
    problem_type,
)

__all__ = [
    "KNOWN_SCOPES",
    "PROBLEM_MEDIA_TYPE",
    "DocumentedRouter",
    "IdempotencyKey",
    "IdempotencyRequest",
    "IfMatch",
    "IfMatchRequired",
    "InsufficientScope",
    "InvalidToken",
    "KafkaCheck",
    "Lifespan",
    "MalformedIfMatchError",
    "MissingToken",
    "OpenApiRefiner",
    "PlatformMetrics",
    "Principal",
    "Problem",
    "ReadinessCheck",
    "ServiceApp",
    "create_registry",
    "create_service_app",
    "current_principal",
    "decode_token",
    "etag_for",
    "idempotency_request",
    "if_match",
    "install_problem_handlers",
    "kafka_check",
    "mint_token",
    "optional_principal",
    "parse_if_match",
    "platform_metrics",
    "postgres_check",
    "problem_for_exception",
    "problem_response",
    "problem_type",
    "request_fingerprint",
    "require",
    "require_if_match",
    "run_checks",
]
