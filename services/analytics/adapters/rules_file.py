"""The analytics rules read from a deployment's YAML file (``ANALYTICS_RULES_FILE``, docs/analytics-rules.md).

Why an adapter: reading a file is I/O, and ``domain/`` reads none (the import-linter contract in
pyproject.toml holds it to that); the domain only validates the overrides it is handed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.analytics.domain.rules import AnalyticsRules


def load_rules(path: str | Path | None) -> AnalyticsRules:
    """The defaults overridden by the YAML file at ``path`` (no path, or an empty file: the defaults)."""
    if not path:
        return AnalyticsRules()
    loaded: Any = yaml.safe_load(Path(path).read_text()) or {}
    return AnalyticsRules.from_overrides(loaded, source=str(path))
