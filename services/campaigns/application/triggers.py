"""Which events can trigger a campaign, and which fields their conditions may name.

Read from the contracts catalog, so a new field in another domain's contract is usable in a
condition as soon as the contract ships, and a typo is refused when the campaign is saved.

From its own domain the engine takes only what a *customer* did (answered a survey, redeemed an
offer), never what a campaign decided (``OfferSent``, ``MessageSuppressed``, ``HeldOut``...): a
campaign triggered by a decision could trigger itself, or two campaigns each other, for ever.
"""

from __future__ import annotations

from functools import cache

import shared.contracts  # noqa: F401 - registers every domain's contracts in the catalog
from shared.contracts.campaigns import DOMAIN as CAMPAIGNS_DOMAIN
from shared.events.catalog import CATALOG, DomainEvent

TRIGGER_DOMAINS = ("customer", "ticketing", "analytics")
"""Other domains whose every event may trigger a campaign: the engine consumes ``<domain>.events``."""

CUSTOMER_ACTIONS_IN_CAMPAIGNS = frozenset({"SurveyAnswered", "OfferRedeemed"})
"""Events of ``campaigns.events`` that may trigger a campaign: things the customer did, not decisions."""


@cache
def trigger_event_fields() -> dict[str, frozenset[str]]:
    """Event type → field names of its latest version, for every event that may trigger a campaign."""
    fields: dict[str, frozenset[str]] = {}
    for domain in TRIGGER_DOMAINS:
        for model in CATALOG.by_domain(domain):
            latest = CATALOG.model(model.event_type)
            fields[model.event_type] = frozenset(latest.model_fields)
    for event_type in CUSTOMER_ACTIONS_IN_CAMPAIGNS:
        fields[event_type] = frozenset(CATALOG.model(event_type).model_fields)
    return fields


def is_trigger_source(event: DomainEvent) -> bool:
    """False for the engine's own decisions read back from ``campaigns.events``: they change nothing."""
    return event.domain != CAMPAIGNS_DOMAIN or event.event_type in CUSTOMER_ACTIONS_IN_CAMPAIGNS
