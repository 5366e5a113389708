"""Service follow-ups, the use cases: decide one per triggering event, fire deferred ones, manage templates.

Runs in the engine's transaction (``handle_event``) and the timers' (``fire_due_timers``): the
``service_messages`` row, the ``ServiceMessageSent`` event (event store → outbox → ``campaigns.events``,
which the 360 timeline folds) and the ``MessageRequested`` (outbox → ``campaigns.messages``, with
``purpose="service"``) commit together. The row's key is the triggering event's id: a redelivered or
replayed ``TicketResolved`` finds it and sends nothing more.

Templates are data: ``GET``/``PUT /v1/service-messages``; the history is the
``service-message-templates`` stream, the current version one row (migration 0007) that the engine
reads per follow-up; no row means version 0, the defaults in ``domain.service_messages``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from services.campaigns.adapters import replica
from services.campaigns.application import engine as engines
from services.campaigns.application.ports import ReadModel
from services.campaigns.domain.service_messages import (
    DEFAULT_TEMPLATES,
    TemplateError,
    Templates,
    check_templates,
    decide_service_message,
    facts_of,
    render,
    with_defaults,
)
from shared.contracts.campaigns import (
    MessageRequested,
    ServiceMessageSent,
    ServiceMessageTemplate,
    ServiceMessageTemplatesChanged,
)
from shared.errors import InvalidInput
from shared.store.outcomes import Updated
from shared.store.ports import Work
from shared.store.versions import ensure_version_matches

TEMPLATES_STREAM = "service-message-templates"
TIMER_KIND = "service_message"
_NAMESPACE = uuid.UUID("0b6f3d8e-5a7c-4e21-9d3f-2c1a7e5b9f21")


async def load_templates(conn: asyncpg.Connection) -> Templates:
    row = await conn.fetchrow(
        "select version, templates, changed_by, changed_at from service_message_templates where id = 'current'")
    if row is None:
        return Templates(0, DEFAULT_TEMPLATES)
    templates = tuple(ServiceMessageTemplate.model_validate(t) for t in _json(row["templates"]))
    return Templates(row["version"], templates, row["changed_by"], row["changed_at"])


def templates_body(current: Templates) -> dict[str, Any]:
    """What the API shows: every kind's template (defaults filled in), the version (the ETag), who changed it."""
    return {"templates": [t.model_dump(mode="json") for t in with_defaults(current.templates).values()],
            "version": current.version, "changed_by": current.changed_by,
            "changed_at": current.changed_at.isoformat().replace("+00:00", "Z") if current.changed_at else None}


async def replace_templates(
    uow: Work[ReadModel], *, templates: Sequence[ServiceMessageTemplate], by: str | None, now: datetime,
    expected_version: int | None,
) -> Updated:
    """Replace the templates (``If-Match`` checked first; the same templates again record nothing)."""
    current = await uow.rows.templates()
    ensure_version_matches(expected_version, current.version)
    try:
        check_templates(templates)
    except TemplateError as exc:
        raise InvalidInput(str(exc), field=exc.field) from None
    wanted = tuple(with_defaults(templates).values())
    if wanted == tuple(with_defaults(current.templates).values()):
        return Updated(templates_body(current), current.version)
    version = current.version + 1
    await uow.append(stream_id=TEMPLATES_STREAM, stream_type=TEMPLATES_STREAM, expected_version=current.version,
                     events=[ServiceMessageTemplatesChanged(version=version, templates=list(wanted), changed_by=by,
                                                            changed_at=now)],
                     subject=TEMPLATES_STREAM)
    await uow.rows.save_templates(version, wanted, by, now)
    return Updated(templates_body(Templates(version, wanted, by, now)), version)


async def service_messages_of(conn: asyncpg.Connection, customer_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """A customer's service follow-ups, newest first (what was sent, deferred or withheld, and why)."""
    rows = await conn.fetch(
        """select message_id, kind, status, channel, reason, detail, text, triggering_event_id, decided_at,
                  deferred_until, sent_at from service_messages where customer_id = $1
           order by first_decided_at desc, message_id limit $2""", customer_id, limit)
    return [{k: (v.isoformat().replace("+00:00", "Z") if isinstance(v, datetime) else v) for k, v in dict(r).items()}
            for r in rows]


# --- the engine's part --------------------------------------------------------------------------------


async def on_event(engine: engines.Engine, conn: asyncpg.Connection, *, event_id: str, event_type: str,
                   data: Mapping[str, Any], customer_id: str, now: datetime) -> None:
    """The follow-up this event causes, once per event (a redelivery finds the row and does nothing)."""
    facts = facts_of(event_type, data)
    if facts is None:
        return
    kind, values = facts
    await engines.lock_customers(conn, [customer_id])
    if await conn.fetchval("select 1 from service_messages where triggering_event_id = $1", event_id):
        return
    templates = await load_templates(conn)
    template = templates.of(kind)
    message_id = str(uuid.uuid5(_NAMESPACE, event_id))
    text = render(template, values)
    await conn.execute(
        """insert into service_messages (triggering_event_id, message_id, customer_id, kind, status, text, variables,
                                         templates_version, decided_at, first_decided_at)
           values ($1, $2, $3, $4, 'deferred', $5, $6::jsonb, $7, $8, $8)""",
        event_id, message_id, customer_id, kind, text, orjson.dumps(values).decode(), templates.version, now,
    )
    await _decide(engine, conn, event_id=event_id, now=now)


async def fire(engine: engines.Engine, conn: asyncpg.Connection, payload: Mapping[str, Any], now: datetime) -> None:
    """A deferred follow-up's send window opened: decide it again (consent may have changed meanwhile)."""
    row_customer = await conn.fetchval(
        "select customer_id from service_messages where triggering_event_id = $1 and status = 'deferred'",
        payload["event_id"])
    if row_customer is None:
        return
    await engines.lock_customers(conn, [row_customer])
    await _decide(engine, conn, event_id=str(payload["event_id"]), now=now)


async def _decide(engine: engines.Engine, conn: asyncpg.Connection, *, event_id: str, now: datetime) -> None:
    row = await conn.fetchrow("select * from service_messages where triggering_event_id = $1", event_id)
    if row is None or row["status"] != "deferred":
        return
    customer = await replica.load_snapshot(conn, row["customer_id"])
    if customer.merged_into and not customer.erased:
        # A duplicate merged away: the news is for the person, whose profile now is the survivor's.
        customer = await replica.load_snapshot(conn, customer.merged_into)
    templates = await load_templates(conn)
    template = templates.of(row["kind"])
    policy = await engines.current_policy(engine, conn)
    decision = decide_service_message(template=template, customer=customer, policy=policy, now=now)
    # A deferred message is worded when it goes, with the templates then in force.
    text = render(template, _json(row["variables"]))
    await conn.execute(
        """update service_messages set status = $2::text, channel = $3, reason = $4, detail = $5, text = $6,
               templates_version = $7, decided_at = $8::timestamptz, deferred_until = $9,
               sent_at = case when $2::text = 'sent' then $8::timestamptz end
           where triggering_event_id = $1""",
        event_id, decision.status, decision.channel.value if decision.channel else None,
        decision.reason.value if decision.reason else None, decision.detail, text, templates.version, now,
        decision.deferred_until,
    )
    if decision.deferred_until is not None:
        await engines.schedule_timer(conn, kind=TIMER_KIND, due_at=decision.deferred_until,
                             key=f"{event_id}:{decision.deferred_until.isoformat()}", payload={"event_id": event_id})
        return
    if decision.channel is None:
        return
    customer_id, message_id = customer.customer_id, row["message_id"]
    template_key = f"service.{row['kind']}"
    await engines.request_message(engine, conn, MessageRequested(
        message_id=message_id, customer_id=customer_id, channel=decision.channel, template=template_key,
        kind="message", purpose="service", variables={**_json(row["variables"]), "text": text}))
    first = row["first_decided_at"]
    await engines.append_events(engine, conn, f"service-message-{message_id}", [ServiceMessageSent(
        customer_id=customer_id, message_id=message_id, kind=row["kind"], channel=decision.channel,
        template=template_key, text=text, triggering_event_id=event_id, templates_version=templates.version,
        deferred_from=first if first != now else None)], subject=customer_id)


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value
