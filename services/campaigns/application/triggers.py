"""Which events can trigger a campaign, and which fields their conditions may name.

Read from the contracts catalog, so a new field in another domain's contract is usable in a
condition as soon as the contract ships, and a typo is refused when the campaign is saved.
"""

from __future__ import annotations

from functools import cache

import shared.contracts  # noqa: F401 - registers every domain's contracts in the catalog
from shared.catalog import CATALOG

TRIGGER_DOMAINS = ("customer", "ticketing", "analytics")
"""The topics the engine consumes: ``<domain>.events``."""


@cache
def trigger_event_fields() -> dict[str, frozenset[str]]:
    """Event type → field names of its latest version, for every event the engine consumes."""
    fields: dict[str, frozenset[str]] = {}
    for domain in TRIGGER_DOMAINS:
        for model in CATALOG.by_domain(domain):
            latest = CATALOG.model(model.event_type)
            fields[model.event_type] = frozenset(latest.model_fields)
    return fields
