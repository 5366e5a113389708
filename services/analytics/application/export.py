"""Analytics' part of a customer's export (right of access, issue 20.1; ``shared.privacy.export``).

What analytics computed about the customer and from what: the 360 view (segments, lifecycle stage,
churn risk, value tier, CLV, each with the rule that put it there and its provenance), and for each
computed trait the events behind it; the timeline of every event analytics holds about them; the
facts the KPIs count (survey answers, ticket facts, campaign control-group membership, NPS reason
terms) and the recommendations last announced.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.analytics.application import queries
from services.analytics.domain.rules import AnalyticsRules
from shared.errors import NotFound
from shared.privacy.export import Coverage, part, table_rows

COVERAGE = Coverage(
    exported={
        "customer_views": "view",
        "customer_events": "events",
        "survey_answers": "survey_answers",
        "ticket_facts": "ticket_facts",
        "campaign_holdouts": "campaign_holdouts",
        "nps_reasons": "nps_reasons",
        "published_recommendations": "published_recommendations",
        "alert_subjects": "alert_subjects",
        "account_manager_alerts": "account_manager_alerts",
        "alert_purchases": "alert_purchases",
        "alert_pending": "alert_pending",
    },
    not_personal={},
)


def _provenance(value: Any, path: str = "") -> Iterator[tuple[str, list[str]]]:
    """Every ``provenance`` list in the 360 view, by the path of the trait it explains."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "provenance" and isinstance(inner, list):
                yield path or "view", [str(i) for i in inner]
            else:
                yield from _provenance(inner, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            yield from _provenance(inner, f"{path}[{n}]")


async def export_part(
    conn: asyncpg.Connection, customer_id: UUID, *, rules: AnalyticsRules, now: datetime
) -> dict[str, Any]:
    """Everything analytics holds about the customer."""
    aliases = await conn.fetch("select duplicate_id from customer_aliases where survivor_id = $1", customer_id)
    people = [str(customer_id), *(str(r["duplicate_id"]) for r in aliases)]
    try:
        view: dict[str, Any] | None = await queries.customer_360(conn, str(customer_id), rules=rules, now=now)
    except NotFound:
        view = None
    events = await table_rows(conn, "customer_events", people, order_by="occurred_at, event_id")
    by_id = {e["event_id"]: e for e in events}
    behind = {trait: [by_id[i] for i in ids if i in by_id] for trait, ids in _provenance(view or {})}
    return part("analytics", COVERAGE, {
        "view": view,
        "trait_events": behind,
        "events": events,
        "survey_answers": await table_rows(conn, "survey_answers", people, order_by="answered_at"),
        "ticket_facts": await table_rows(conn, "ticket_facts", people, order_by="opened_at"),
        "campaign_holdouts": await table_rows(conn, "campaign_holdouts", people, order_by="held_out_at"),
        "nps_reasons": await table_rows(conn, "nps_reasons", people, order_by="answered_at"),
        "published_recommendations": await table_rows(conn, "published_recommendations", people),
        "alert_subjects": await table_rows(conn, "alert_subjects", people),
        "account_manager_alerts": await table_rows(conn, "account_manager_alerts", people, order_by="raised_at"),
        "alert_purchases": await table_rows(conn, "alert_purchases", people, order_by="sku"),
        "alert_pending": await table_rows(conn, "alert_pending", people, order_by="decided_at"),
    }, now=now)
