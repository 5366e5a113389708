"""Settings of the analytics service (environment variables ``ANALYTICS_*`` plus the platform's)."""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field

from shared.settings import ServiceSettings

from .domain.rules import AnalyticsRules

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

    @cached_property
    def rules(self) -> AnalyticsRules:
        return AnalyticsRules.from_file(self.analytics_rules_file)

    @property
    def read_model_dsn(self) -> str:
        return with_search_path(self.database_url, READ_MODEL_SCHEMA)
