"""Campaigns' part of a customer's export (right of access, issue 20.1; ``shared.privacy.export``).

Every decision a campaign took about the customer (offer or message sent, held out as control,
suppressed or deferred, with the reason and the marketing policy version it used), the offers issued
and redeemed, refused redemptions, conversions, the surveys sent with every answer, what the engine
knows of the customer (its replica: consents, segments, lifecycle as analytics announced them), the
import records that name them, and every campaigns event about them (opened with our key).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from shared.privacy.export import Coverage, event_json, json_value, part, table_rows
from shared.store.eventstore import EventStore

COVERAGE = Coverage(
    exported={
        "decisions": "decisions",
        "offers": "offers",
        "invalid_redemptions": "invalid_redemptions",
        "conversions": "conversions",
        "surveys": "surveys",
        "customer_replica": "customer_replica",
        "import_ledger": "import_records",
        "service_messages": "service_messages",
    },
    not_personal={},
)


async def _surveys(conn: asyncpg.Connection, people: list[str]) -> list[dict[str, Any]]:
    """The surveys sent, each with its answers (``survey_question_answers`` hangs off the survey).

    The response token's hash is left out: it is a credential, not something about the person.
    """
    rows = await conn.fetch(
        """select s.*, coalesce((select jsonb_agg(jsonb_build_object(
                      'question_id', a.question_id, 'answered_at', a.answered_at, 'score', a.score,
                      'choice', a.choice) order by a.answered_at, a.question_id)
                  from survey_question_answers a where a.survey_id = s.id), '[]'::jsonb)::text as answers
           from surveys s where s.customer_id = any($1::text[]) order by s.sent_at, s.id""", people)
    surveys = []
    for r in rows:
        row = {k: v for k, v in dict(r).items() if k not in ("token_hash", "answers")}
        surveys.append({**json_value(row), "answers": json_value(orjson.loads(r["answers"]))})
    return surveys


async def export_part(
    conn: asyncpg.Connection, store: EventStore, customer_id: UUID, *, now: datetime
) -> dict[str, Any]:
    """Everything campaigns holds about the customer."""
    duplicates = await conn.fetch("select customer_id from customer_replica where merged_into = $1", str(customer_id))
    people = [str(customer_id), *(r["customer_id"] for r in duplicates)]
    events = [e for person in people for e in await store.load_subject(conn, person)]
    return part("campaigns", COVERAGE, {
        "decisions": await table_rows(conn, "decisions", people, order_by="decided_at, campaign_id"),
        "offers": await table_rows(conn, "offers", people, order_by="issued_at, code"),
        "invalid_redemptions": await table_rows(conn, "invalid_redemptions", people, order_by="recorded_at"),
        "conversions": await table_rows(conn, "conversions", people, order_by="converted_at"),
        "surveys": await _surveys(conn, people),
        "customer_replica": await table_rows(conn, "customer_replica", people),
        "import_records": await table_rows(conn, "import_ledger", people, order_by="imported_at"),
        "service_messages": await table_rows(conn, "service_messages", people, order_by="first_decided_at"),
        "events": [event_json(e) for e in sorted(events, key=lambda e: e.position)],
    }, now=now)
