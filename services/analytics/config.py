"""Settings of the analytics service (environment variables ``ANALYTICS_*`` plus the platform's)."""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field

from services.analytics.adapters.rules_file import load_rules
from services.analytics.domain.rules import AnalyticsRules
from shared.settings import ServiceSettings

READ_MODEL_SCHEMA = "analytics"
SWAP_CHANNEL = "analytics_read_model_swapped"
"""NOTIFY channel the rebuild signals after swapping schemas: pools drop their cached statements."""


def with_search_path(dsn: str, schema: str) -> str:
    """The DSN with ``search_path = <schema>, public`` (asyncpg passes query parameters to the server).

    Every analytics connection resolves the read-model tables (and the read model's own ``inbox``)
    through the search path, so a rebuild can fill another schema with the very same code.
    """
    parts = urlsplit(dsn)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "search_path"]
    query.append(("search_path", f"{schema},public"))
    return urlunsplit(parts._replace(query=urlencode(query, safe=",")))


class AnalyticsSettings(ServiceSettings):
    """Analytics knobs: where the rules come from, batch sizes, the sweep interval, the key client."""

    service_name: ClassVar[str] = "analytics"

    analytics_rules_file: str | None = Field(
        default=None, description="YAML file overriding rule defaults (docs/analytics-rules.md)."
    )
    analytics_batch_size: int = Field(default=2000, ge=1)
    analytics_sweep_interval_seconds: float = Field(default=3600, gt=0)
    analytics_sweep_batch: int = Field(default=2000, ge=1)

    # Outbound webhooks (docs/webhooks.md): `c360 worker analytics webhooks`.
    analytics_webhook_max_attempts: int = Field(
        default=8, ge=1, le=50, description="Attempts of one delivery before it is dead-lettered.")
    analytics_webhook_retry_initial_seconds: float = Field(
        default=30.0, gt=0, description="Wait after the first failed attempt; multiplied by the factor after each.")
    analytics_webhook_retry_factor: float = Field(default=4.0, ge=1)
    analytics_webhook_retry_max_seconds: float = Field(
        default=21600.0, gt=0, description="Longest wait between two attempts (6 h).")
    analytics_webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="An endpoint answering slower than this failed the attempt.")
    analytics_webhook_disable_after: int = Field(
        default=20, ge=1, description="Failed attempts in a row (no success between) that disable an endpoint.")
    analytics_webhook_concurrency: int = Field(
        default=16, ge=1, description="Deliveries in flight at once (one per subscription and customer).")
    analytics_webhook_poll_seconds: float = Field(
        default=5.0, gt=0, description="Longest sleep of the delivery worker without a notification.")
    analytics_webhook_secret_grace_hours: float = Field(
        default=24.0, ge=0, description="After a rotation the old secret keeps signing (a second signature) this long.")

    @property
    def webhook_allow_private_urls(self) -> bool:
        """Loopback and private endpoints are accepted only in local and test environments (SSRF)."""
        return self.environment in ("local", "test")

    @cached_property
    def rules(self) -> AnalyticsRules:
        return load_rules(self.analytics_rules_file)

    @property
    def read_model_dsn(self) -> str:
        return with_search_path(self.database_url, READ_MODEL_SCHEMA)
