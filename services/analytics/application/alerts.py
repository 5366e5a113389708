"""Account managers' alerts (issue 21.2, 21.4): raise, remind, acknowledge, list, count.

Why a consumer of its own (``analytics-alerts``, ``c360 worker analytics alerts``) rather than the
360 projector: an alert is a message to a person, published once, like a webhook delivery; the
projector's read model is rebuilt from the topics (``rebuild.py``, ``setrebuild.py``) and must not
raise anything a second time. The consumer reads the domain topics (complaints, SLA breaches, NPS
answers, orders, account managers, birth dates) and analytics' own signals (churn band, high value),
so the churn and segment rules stay the projector's single definition. Its state (``alert_subjects``)
and the alerts live in ``public``, beside the event store: a rebuild leaves them alone. The consumer
kit's inbox makes a redelivered event a no-op; the subject row's lock serialises one customer's
events arriving through several topics; the window check makes one alert per kind per customer.

Birthdays and relationship anniversaries are time-based: ``remind_special_days`` runs in the
analytics sweep at the sweep's clock.
"""

from __future__ import annotations

import base64
import logging
import statistics
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from services.analytics.application.ports import ReadModel
from services.analytics.domain import alerts as domain
from services.analytics.domain.rules import AnalyticsRules
from shared.consuming.consumer import ReceivedEvent
from shared.contracts.analytics import AccountManagerAlertAcknowledged, AccountManagerAlertRaised
from shared.errors import InvalidInput, NotFound
from shared.events.envelope import format_time
from shared.store.eventstore import EventStore
from shared.store.outcomes import Updated
from shared.store.ports import Work

log = logging.getLogger(__name__)

ALERTS_CONSUMER = "analytics-alerts"
"""Consumer group and inbox key of the alerts consumer."""

ALERT_STREAM_TYPE = "account-manager-alert"

WANTED = frozenset({
    "CustomerRegistered", "CustomerProfileUpdated", "AccountManagerAssigned", "CustomerErased", "OrderPlaced",
    "ComplaintFiled", "SlaBreached", "SurveyAnswered", "ChurnRiskChanged", "SegmentEntered",
})


def alert_stream(alert_id: UUID | str) -> str:
    return f"account-manager-alert-{alert_id}"


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None


def _birth_date(value: Any) -> date | None:
    """A birth date the kit opened (an unopened ``enc:v1:`` string, or none, is unknown)."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


async def _subject(conn: asyncpg.Connection, customer: UUID, now: datetime) -> domain.Subject:
    """The customer's row, created and locked (one customer's topics are applied one at a time)."""
    row = await conn.fetchrow(
        """insert into alert_subjects (customer_id, updated_at) values ($1, $2)
           on conflict (customer_id) do update set updated_at = alert_subjects.updated_at
           returning account_manager_id, orders, order_total, erased""", customer, now)
    assert row is not None
    return domain.Subject(row["account_manager_id"], row["orders"], row["order_total"], row["erased"])


async def _learn(conn: asyncpg.Connection, customer: UUID, received: ReceivedEvent, data: dict[str, Any],
                 now: datetime) -> None:
    """Remember what later decisions need (after the event itself was decided, so an order compares with
    the ones before it)."""
    kind = received.event_type
    if kind == "OrderPlaced":
        skus = sorted({str(line["sku"]) for line in data.get("lines") or () if line.get("sku")})
        if skus:  # the rhythm of each product (replenishment); a redelivery never reaches here (the kit's inbox)
            await conn.execute(
                """insert into alert_purchases (customer_id, sku, purchases, first_at, last_at, last_event_id)
                   select $1, sku, 1, $3, $3, $4 from unnest($2::text[]) as sku
                   on conflict (customer_id, sku) do update set
                       purchases = alert_purchases.purchases + 1,
                       first_at = least(alert_purchases.first_at, excluded.first_at),
                       last_event_id = case when excluded.last_at >= alert_purchases.last_at
                                            then excluded.last_event_id else alert_purchases.last_event_id end,
                       last_at = greatest(alert_purchases.last_at, excluded.last_at)""",
                customer, skus, received.time, received.event_id)
    if kind == "AccountManagerAssigned":
        await conn.execute("update alert_subjects set account_manager_id = $2, updated_at = $3 where customer_id = $1",
                           customer, str(data["account_manager_id"]), now)
    elif kind == "OrderPlaced":
        await conn.execute(
            """update alert_subjects set orders = orders + 1, order_total = order_total + $2, updated_at = $3
               where customer_id = $1""", customer, Decimal(str(data.get("total") or 0)), now)
    elif kind == "CustomerRegistered":
        await conn.execute(
            """update alert_subjects set customer_since = $2, birth_date = coalesce($3, birth_date), updated_at = $4
               where customer_id = $1 and not erased""",
            customer, datetime.fromisoformat(str(data["registered_at"])), _birth_date(data.get("birth_date")), now)
    elif kind == "CustomerProfileUpdated" and "birth_date" in (data.get("changed_fields") or ()):
        await conn.execute("update alert_subjects set birth_date = $2, updated_at = $3 where customer_id = $1 "
                           "and not erased", customer, _birth_date(data.get("birth_date")), now)
    elif kind == "CustomerErased":
        await conn.execute("update alert_subjects set erased = true, birth_date = null, updated_at = $2 "
                           "where customer_id = $1", customer, now)
        await conn.execute("update account_manager_alerts set due_on = null where customer_id = $1", customer)
        await conn.execute("delete from alert_purchases where customer_id = $1", customer)
        await conn.execute("delete from alert_pending where customer_id = $1", customer)


async def _raise(
    conn: asyncpg.Connection, store: EventStore, customer: UUID, manager: str, candidate: domain.Candidate,
    *, now: datetime, rules: AnalyticsRules,
) -> bool:
    """Store and publish one alert unless one of its kind is inside the window (or its occasion was reminded)."""
    if candidate.occasion is None:
        earlier = await conn.fetch(
            "select decided_at from account_manager_alerts where customer_id = $1 and kind = $2 "
            "and decided_at > $3::timestamptz - make_interval(days => $4::int) "
            "and decided_at < $3::timestamptz + make_interval(days => $4::int)",
            customer, candidate.kind, candidate.decided_at, rules.alerts.window_days)
        if domain.within_window(candidate.decided_at, [r["decided_at"] for r in earlier], rules):
            return False
    alert_id = uuid.uuid4()
    provenance = [p for p in (_uuid(v) for v in candidate.provenance) if p is not None]
    inserted = await conn.fetchval(
        """insert into account_manager_alerts (id, customer_id, account_manager_id, kind, rule, reason, provenance,
               decided_at, raised_at, occasion, due_on)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           on conflict (customer_id, occasion) do nothing returning id""",
        alert_id, customer, manager, candidate.kind, candidate.rule, candidate.reason, provenance,
        candidate.decided_at, now, candidate.occasion, candidate.due_on)
    if inserted is None:
        return False
    await store.append(
        conn, stream_id=alert_stream(alert_id), stream_type=ALERT_STREAM_TYPE, expected_version=0,
        subject=str(customer),
        events=[AccountManagerAlertRaised(
            customer_id=customer, rule=candidate.rule, reason=candidate.reason, provenance=provenance,
            decided_at=candidate.decided_at, alert_id=alert_id, account_manager_id=manager, kind=candidate.kind,
            raised_at=now)])
    return True


async def route_alerts(
    conn: asyncpg.Connection, events: Sequence[ReceivedEvent], *, rules: AnalyticsRules, store: EventStore,
    now: datetime,
) -> int:
    """Apply a batch in the consumer kit's transaction; returns how many alerts were raised."""
    raised = 0
    wanted = sorted((r for r in events if r.event_type in WANTED), key=lambda r: (r.time, str(r.event_id)))
    for received in wanted:
        data = received.event.model_dump(mode="json")
        customer = _uuid(data.get("customer_id"))
        if customer is None:
            continue
        subject = await _subject(conn, customer, now)
        if not subject.erased:
            candidate = domain.decide(received.event_type, data, event_id=str(received.event_id), at=received.time,
                                      subject=subject, rules=rules)
            if candidate is not None and subject.account_manager_id is not None:
                raised += await _raise(conn, store, customer, subject.account_manager_id, candidate, now=now,
                                       rules=rules)
            elif candidate is not None:
                await _hold(conn, customer, candidate, rules)
        await _learn(conn, customer, received, data, now)
        if received.event_type == "AccountManagerAssigned" and not subject.erased:
            raised += await _release(conn, store, customer, str(data["account_manager_id"]),
                                     assigned_at=datetime.fromisoformat(str(data["assigned_at"])), now=now, rules=rules)
    return raised


async def _hold(conn: asyncpg.Connection, customer: UUID, candidate: domain.Candidate, rules: AnalyticsRules) -> None:
    """Keep an alert for a customer nobody manages yet, for a while: the topics are read side by side, so
    an assignment made before the event may be read after it (a complaint a minute after the assignment,
    read first, must still alert). Kept for the dedup window of event time, then dropped."""
    await conn.execute(
        """insert into alert_pending (customer_id, kind, rule, reason, provenance, decided_at)
           values ($1, $2, $3, $4, $5, $6) on conflict do nothing""",
        customer, candidate.kind, candidate.rule, candidate.reason,
        [p for p in (_uuid(v) for v in candidate.provenance) if p is not None], candidate.decided_at)
    await conn.execute("delete from alert_pending where customer_id = $1 and decided_at < $2",
                       customer, candidate.decided_at - timedelta(days=rules.alerts.window_days))


async def _release(conn: asyncpg.Connection, store: EventStore, customer: UUID, manager: str, *,
                   assigned_at: datetime, now: datetime, rules: AnalyticsRules) -> int:
    """The held alerts of events at or after the assignment go to the new manager; earlier ones are dropped."""
    held = await conn.fetch(
        """delete from alert_pending where customer_id = $1
           returning kind, rule, reason, provenance, decided_at""", customer)
    raised = 0
    for row in sorted(held, key=lambda r: r["decided_at"]):
        if row["decided_at"] >= assigned_at:
            candidate = domain.Candidate(row["kind"], row["rule"], row["reason"],
                                         tuple(str(p) for p in row["provenance"]), row["decided_at"])
            raised += await _raise(conn, store, customer, manager, candidate, now=now, rules=rules)
    return raised


async def _managed_pages(pool: asyncpg.Pool, page: int) -> AsyncIterator[tuple[asyncpg.Connection,
                                                                                list[asyncpg.Record]]]:
    """Managed, not erased customers, a page per transaction with their rows locked (``skip locked``: two
    sweeps never remind the same customer at once); what is raised for a page commits with it."""
    after = UUID(int=0)
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """select customer_id, account_manager_id, birth_date, customer_since from alert_subjects
                   where customer_id > $1 and account_manager_id is not null and not erased
                   order by customer_id limit $2 for update skip locked""", after, page)
            if not rows:
                return
            after = rows[-1]["customer_id"]
            yield conn, rows


async def remind_special_days(
    pool: asyncpg.Pool, *, now: datetime, rules: AnalyticsRules, store: EventStore, page: int = 2000,
) -> int:
    """Birthday and anniversary reminders due at ``now`` for managed, not erased customers (the sweep)."""
    raised = 0
    async for conn, rows in _managed_pages(pool, page):
        for row in rows:
            for candidate in domain.special_days(birth_date=row["birth_date"], customer_since=row["customer_since"],
                                                 now=now, rules=rules):
                raised += await _raise(conn, store, row["customer_id"], row["account_manager_id"], candidate,
                                       now=now, rules=rules)
    return raised


async def remind_replenishment(
    pool: asyncpg.Pool, *, now: datetime, rules: AnalyticsRules, store: EventStore, page: int = 2000,
) -> int:
    """Alerts for regular purchases now overdue at managed, not erased customers (the sweep, like special days)."""
    if "replenishment" not in rules.alerts.enabled:
        return 0
    raised = 0
    async for conn, subjects in _managed_pages(pool, page):
        bought: dict[UUID, list[domain.Purchases]] = {}
        for row in await conn.fetch(
                """select customer_id, sku, purchases, first_at, last_at, last_event_id from alert_purchases
                   where customer_id = any($1::uuid[]) and purchases >= $2""",
                [s["customer_id"] for s in subjects], rules.alerts.replenishment_min_purchases):
            bought.setdefault(row["customer_id"], []).append(domain.Purchases(
                row["sku"], row["purchases"], row["first_at"], row["last_at"], str(row["last_event_id"])))
        for subject in subjects:
            for candidate in domain.replenishment_due(bought.get(subject["customer_id"], ()), now=now, rules=rules):
                raised += await _raise(conn, store, subject["customer_id"], subject["account_manager_id"], candidate,
                                       now=now, rules=rules)
    return raised


# ------------------------------------------------------------------------------------------ the API


def alert_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "customer_id": str(row["customer_id"]),
        "account_manager_id": row["account_manager_id"],
        "kind": row["kind"],
        "rule": row["rule"],
        "reason": row["reason"],
        "provenance": [str(p) for p in row["provenance"]],
        "decided_at": format_time(row["decided_at"]),
        "raised_at": format_time(row["raised_at"]),
        "due_on": row["due_on"].isoformat() if row["due_on"] else None,
        "state": "acknowledged" if row["acknowledged_at"] else "open",
        "acknowledged_at": format_time(row["acknowledged_at"]) if row["acknowledged_at"] else None,
        "acknowledged_by": row["acknowledged_by"],
    }


def _cursor(row: asyncpg.Record) -> str:
    raw = orjson.dumps([row["raised_at"].isoformat(), str(row["id"])])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str) -> tuple[datetime, UUID]:
    try:
        raised, ident = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        moment = datetime.fromisoformat(raised)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment, UUID(ident)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidInput("cursor is not a next_cursor this list gave", field="cursor") from None


async def list_alerts(
    conn: asyncpg.Connection, *, account_manager_id: str | None, customer_id: UUID | None, state: str, limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """Alerts newest first (by raised time, then id), filtered, one page and the cursor of the next."""
    after = _after(cursor) if cursor else None
    rows = await conn.fetch(
        """select * from account_manager_alerts
           where ($1::text is null or account_manager_id = $1) and ($2::uuid is null or customer_id = $2)
             and ($3 = 'all' or ($3 = 'open') = (acknowledged_at is null))
             and ($4::timestamptz is null or (raised_at, id) < ($4, $5::uuid))
           order by raised_at desc, id desc limit $6""",
        account_manager_id, customer_id, state, after[0] if after else None, after[1] if after else None, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [alert_view(r) for r in rows], "next_cursor": _cursor(rows[-1]) if more else None}


async def acknowledge(uow: Work[ReadModel], alert_id: UUID, *, by: str, now: datetime) -> Updated:
    """Acknowledge once (``AccountManagerAlertAcknowledged``); acknowledging again answers the alert as it is."""
    row = await uow.rows.acknowledge_alert(alert_id, by=by, now=now)
    if row is None:
        existing = await uow.rows.alert(alert_id)
        if existing is None:
            raise NotFound(f"no alert {alert_id}")
        return Updated(alert_view(existing))
    stream = alert_stream(alert_id)
    await uow.append(
        stream_id=stream, stream_type=ALERT_STREAM_TYPE, expected_version=len(await uow.load(stream)),
        subject=str(row["customer_id"]),
        events=[AccountManagerAlertAcknowledged(
            alert_id=alert_id, customer_id=row["customer_id"], account_manager_id=row["account_manager_id"],
            kind=row["kind"], acknowledged_by=by, acknowledged_at=now)])
    return Updated(alert_view(row))


def _hours(seconds: Sequence[float]) -> dict[str, float | None]:
    if not seconds:
        return {"median_hours_to_acknowledge": None, "mean_hours_to_acknowledge": None}
    return {"median_hours_to_acknowledge": round(statistics.median(seconds) / 3600, 2),
            "mean_hours_to_acknowledge": round(statistics.fmean(seconds) / 3600, 2)}


async def kpi_alerts(conn: asyncpg.Connection, *, start: datetime, end: datetime) -> dict[str, Any]:
    """Alerts raised in ``[start, end)``: how many, how many acknowledged, time to acknowledge, per manager."""
    rows = await conn.fetch(
        """select account_manager_id, acknowledged_at is not null as acked,
                  extract(epoch from acknowledged_at - raised_at)::float8 as seconds
           from account_manager_alerts where raised_at >= $1 and raised_at < $2""", start, end)
    per: dict[str, list[asyncpg.Record]] = {}
    for row in rows:
        per.setdefault(row["account_manager_id"], []).append(row)

    def summary(group: Sequence[asyncpg.Record]) -> dict[str, Any]:
        waits = [max(r["seconds"], 0.0) for r in group if r["acked"]]
        return {"raised": len(group), "acknowledged": len(waits), **_hours(waits)}

    return {
        "from": format_time(start), "to": format_time(end), **summary(rows),
        "by_account_manager": [{"account_manager_id": m, **summary(g)} for m, g in sorted(per.items())],
    }
