"""The customer replica: what the campaigns service knows about each customer, from events only.

Each consumed event changes at most one row (``UPDATERS``: its statements). The consumer kit applies an event
at most once (inbox), so counters (orders) may be incremented without double counting; open
complaints are a set of ticket ids, so a redelivered ComplaintFiled cannot count twice anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from services.campaigns.domain.decision import CustomerSnapshot
from shared.contracts.campaigns import Channel

Statement = tuple[str, tuple[Any, ...]]
"""One SQL statement and its arguments; the first argument is always the replica row's ``customer_id``."""

_ENSURE = "insert into customer_replica (customer_id) values ($1) on conflict (customer_id) do nothing"

Updater = Callable[[str, Mapping[str, Any], datetime], list[Statement]]
"""What one consumed event does to the replica, as statements on rows named by their first argument."""


def _registered(cid: str, data: Mapping[str, Any], at: datetime) -> list[Statement]:
    consents = data.get("consents") or {}
    granted = [c for c in ("email", "sms", "push") if _get(consents, c)]
    # Registrations from before the opt-out existed carry no flag: service follow-ups are on.
    followups = _get(consents, "service_followups") is not False
    return [(
        """insert into customer_replica (customer_id, registered, consents, birthday, timezone,
                                         relationship_type, interests, service_followups)
           values ($1, true, $2, $3, $4, $5, $6, $7)
           on conflict (customer_id) do update set registered = true, consents = excluded.consents,
               birthday = excluded.birthday, timezone = excluded.timezone,
               relationship_type = excluded.relationship_type, interests = excluded.interests,
               service_followups = excluded.service_followups, updated_at = now()""",
        (cid, granted, _as_date(data.get("birth_date")), data.get("timezone"),
         data.get("relationship_type"), list(data.get("interests") or []), followups),
    )]


def _profile_updated(cid: str, data: Mapping[str, Any], at: datetime) -> list[Statement]:
    changed = set(data.get("changed_fields") or [])
    return [(_ENSURE, (cid,)), (
        """update customer_replica set
               birthday = case when $2 then $3 else birthday end,
               timezone = case when $4 then $5 else timezone end,
               relationship_type = coalesce($6, relationship_type),
               interests = coalesce($7, interests), updated_at = now()
           where customer_id = $1""",
        (cid, "birth_date" in changed, _as_date(data.get("birth_date")), "timezone" in changed, data.get("timezone"),
         data.get("relationship_type"), data.get("interests")),
    )]


def _consent_changed(cid: str, data: Mapping[str, Any], at: datetime) -> list[Statement]:
    return [(_ENSURE, (cid,)), (
        """update customer_replica set consents = case when $3 then array(select distinct unnest(consents || $2::text))
                                                  else array_remove(consents, $2) end, updated_at = now()
           where customer_id = $1""",
        (cid, str(data.get("channel")), bool(data.get("granted"))),
    )]


def _service_followups_changed(cid: str, data: Mapping[str, Any], at: datetime) -> list[Statement]:
    return [(
        """insert into customer_replica (customer_id, service_followups) values ($1, $2)
           on conflict (customer_id) do update set service_followups = $2, updated_at = now()""",
        (cid, bool(data.get("granted"))),
    )]


def _merged(cid: str, data: Mapping[str, Any], at: datetime) -> list[Statement]:
    return [(
        """insert into customer_replica (customer_id, merged_into) values ($1, $2)
           on conflict (customer_id) do update set merged_into = $2, updated_at = now()""",
        (str(data.get("duplicate_id")), cid),
    )]


def _unmerged(cid: str, data: Mapping[str, Any], at: datetime) -> list[Statement]:
    return [("update customer_replica set merged_into = null where customer_id = $1", (str(data.get("duplicate_id")),))]


def _erased(cid: str, data: Mapping[str, Any], at: datetime) -> list[Statement]:
    # Right to be forgotten: keep only the flag that stops every campaign, drop what was personal.
    return [(
        """insert into customer_replica (customer_id, erased) values ($1, true)
           on conflict (customer_id) do update set erased = true, birthday = null, interests = '{}',
               timezone = null, recommended_skus = '{}', updated_at = now()""",
        (cid,),
    )]


def _order_placed(cid: str, data: Mapping[str, Any], at: datetime) -> list[Statement]:
    total = Decimal(str(data.get("total") or "0"))
    return [(
        """insert into customer_replica (customer_id, orders_count, orders_total, last_order_total, last_order_at)
           values ($1, 1, $2, $2, $3)
           on conflict (customer_id) do update set orders_count = customer_replica.orders_count + 1,
               orders_total = customer_replica.orders_total + $2, last_order_total = $2,
               last_order_at = greatest(customer_replica.last_order_at, $3), updated_at = now()""",
        (cid, total, data.get("placed_at") or at),
    )]


def _order_cancelled(cid: str, data: Mapping[str, Any], at: datetime) -> list[Statement]:
    return [(
        """update customer_replica set orders_total = greatest(orders_total - $2, 0), updated_at = now()
           where customer_id = $1""",
        (cid, Decimal(str(data.get("total") or "0"))),
    )]


def _complaint_filed(cid: str, data: Mapping[str, Any], at: datetime) -> list[Statement]:
    return [(
        """insert into customer_replica (customer_id, open_complaints) values ($1, array[$2])
           on conflict (customer_id) do update set
               open_complaints = array(select distinct unnest(customer_replica.open_complaints || $2::text)),
               updated_at = now()""",
        (cid, str(data.get("ticket_id"))),
    )]


def _ticket_closed(cid: str, data: Mapping[str, Any], at: datetime) -> list[Statement]:
    return [(
        "update customer_replica set open_complaints = array_remove(open_complaints, $2) where customer_id = $1",
        (cid, str(data.get("ticket_id"))),
    )]


def _sla_breached(cid: str, data: Mapping[str, Any], at: datetime) -> list[Statement]:
    return [(
        """insert into customer_replica (customer_id, last_sla_breach_at) values ($1, $2)
           on conflict (customer_id) do update set
               last_sla_breach_at = greatest(customer_replica.last_sla_breach_at, $2), updated_at = now()""",
        (cid, data.get("breached_at") or at),
    )]


def _segment_entered(cid: str, data: Mapping[str, Any], at: datetime) -> list[Statement]:
    return [(
        """insert into customer_replica (customer_id, segments) values ($1, array[$2])
           on conflict (customer_id) do update set
               segments = array(select distinct unnest(customer_replica.segments || $2::text)), updated_at = now()""",
        (cid, str(data.get("segment"))),
    )]


def _segment_exited(cid: str, data: Mapping[str, Any], at: datetime) -> list[Statement]:
    return [("update customer_replica set segments = array_remove(segments, $2) where customer_id = $1",
             (cid, str(data.get("segment"))))]


def _recommendations_changed(cid: str, data: Mapping[str, Any], at: datetime) -> list[Statement]:
    # The latest list replaces the previous one: a customer's analytics events share one partition,
    # so they arrive in the order analytics published them.
    skus = [str(_get(item, "sku")) for item in data.get("recommendations") or []]
    return [(
        """insert into customer_replica (customer_id, recommended_skus) values ($1, $2)
           on conflict (customer_id) do update set recommended_skus = $2, updated_at = now()""",
        (cid, skus),
    )]


_DETRACTOR = """insert into customer_replica (customer_id, last_detractor_at) values ($1, $2)
                on conflict (customer_id) do update set
                    last_detractor_at = greatest(customer_replica.last_detractor_at, $2), updated_at = now()"""


def _survey_answered(cid: str, data: Mapping[str, Any], at: datetime) -> list[Statement]:
    return [(_DETRACTOR, (cid, at))] if str(data.get("nps_category")) == "detractor" else []


def _set_column(column: str, key: str) -> Updater:
    sql = f"""insert into customer_replica (customer_id, {column}) values ($1, $2)
              on conflict (customer_id) do update set {column} = $2, updated_at = now()"""

    def update(cid: str, data: Mapping[str, Any], at: datetime) -> list[Statement]:
        return [(sql, (cid, None if data.get(key) is None else str(data.get(key))))]

    return update


UPDATERS: dict[str, Updater] = {
    "CustomerRegistered": _registered,
    "CustomerProfileUpdated": _profile_updated,
    "ContactPreferencesChanged": _consent_changed,
    "ServiceFollowupsChanged": _service_followups_changed,
    "CustomersMerged": _merged,
    "CustomersUnmerged": _unmerged,
    "CustomerErased": _erased,
    "OrderPlaced": _order_placed,
    "OrderCancelled": _order_cancelled,
    "ComplaintFiled": _complaint_filed,
    "TicketResolved": _ticket_closed,
    "TicketClosed": _ticket_closed,
    "SlaBreached": _sla_breached,
    "SegmentEntered": _segment_entered,
    "SegmentExited": _segment_exited,
    "RecommendationsChanged": _recommendations_changed,
    "SurveyAnswered": _survey_answered,
    "LifecycleStageChanged": _set_column("lifecycle_stage", "to_stage"),
    "ChurnRiskChanged": _set_column("churn_band", "to_band"),
    "ValueTierChanged": _set_column("value_tier", "to_tier"),
}
"""Event type → how it changes the replica; events not listed leave it alone."""

ReplicaChange = tuple[str, str, Mapping[str, Any], datetime]
"""A consumed event as the replica takes it: ``(event_type, customer_id, data, at)``."""


def statements_for(event_type: str, customer_id: str, data: Mapping[str, Any], at: datetime) -> list[Statement]:
    updater = UPDATERS.get(event_type)
    return updater(customer_id, data, at) if updater is not None else []


async def apply_to_replica(
    conn: asyncpg.Connection, event_type: str, customer_id: str, data: Mapping[str, Any], at: datetime
) -> None:
    """Fold one consumed event into the replica."""
    for sql, args in statements_for(event_type, customer_id, data, at):
        await conn.execute(sql, *args)


async def apply_many_to_replica(conn: asyncpg.Connection, changes: Sequence[ReplicaChange]) -> None:
    """Fold many events into the replica with the same result as ``apply_to_replica`` one by one, in
    a few pipelined round trips.

    Why: imported history reaches the engine a million events at a time, and one round trip per
    event made the engine wait on the database more than it worked (profiled in the onboarding
    benchmark, issue 18). Every statement changes only the row its first argument names, so
    statements on different rows commute: each row's statements keep their order, and the k-th
    statements of all rows form round k, sent as one ``executemany`` per distinct statement.
    """
    by_row: dict[str, list[Statement]] = {}
    for event_type, customer_id, data, at in changes:
        for statement in statements_for(event_type, customer_id, data, at):
            by_row.setdefault(str(statement[1][0]), []).append(statement)
    rounds: list[dict[str, list[tuple[Any, ...]]]] = []
    for statements in by_row.values():
        for k, (sql, args) in enumerate(statements):
            if k == len(rounds):
                rounds.append({})
            rounds[k].setdefault(sql, []).append(args)
    for round_ in rounds:
        for sql, args_list in round_.items():
            await conn.executemany(sql, args_list)


async def record_detractor(conn: asyncpg.Connection, customer_id: str, at: datetime) -> None:
    """A detractor answer holds promotions for a while (service-aware marketing).

    Recorded twice for one answer (by the API at once, by the engine when it reads the answer back
    from ``campaigns.events``): ``greatest`` makes the second a no-op and an old replay harmless.
    """
    await conn.execute(_DETRACTOR, customer_id, at)


async def load_snapshot(conn: asyncpg.Connection, customer_id: str) -> CustomerSnapshot:
    """The customer as the engine sees them; ``known=False`` when nothing says they were registered."""
    row = await conn.fetchrow("select * from customer_replica where customer_id = $1", customer_id)
    if row is None:
        return CustomerSnapshot(customer_id=customer_id, known=False)
    return snapshot_from_row(row)


async def load_snapshots(conn: asyncpg.Connection, customer_ids: Sequence[str]) -> dict[str, CustomerSnapshot]:
    """Snapshots of many customers in one query; customers the replica does not know are absent."""
    rows = await conn.fetch("select * from customer_replica where customer_id = any($1::text[])", list(customer_ids))
    return {row["customer_id"]: snapshot_from_row(row) for row in rows}


def snapshot_from_row(row: Mapping[str, Any]) -> CustomerSnapshot:
    return CustomerSnapshot(
        customer_id=row["customer_id"],
        known=row["registered"],
        erased=row["erased"],
        merged_into=row["merged_into"],
        consents=frozenset(Channel(c) for c in row["consents"] if c in Channel.__members__.values()),
        orders_count=row["orders_count"],
        orders_total=row["orders_total"],
        last_order_total=row["last_order_total"],
        last_order_at=row["last_order_at"],
        open_complaints=len(row["open_complaints"]),
        last_sla_breach_at=row["last_sla_breach_at"],
        last_detractor_at=row["last_detractor_at"],
        segments=frozenset(row["segments"]),
        recommended_skus=tuple(row["recommended_skus"]),
        lifecycle_stage=row["lifecycle_stage"],
        churn_band=row["churn_band"],
        value_tier=row["value_tier"],
        relationship_type=row["relationship_type"],
        interests=tuple(row["interests"]),
        birthday=row["birthday"],
        timezone=row["timezone"],
        last_relationship_survey_at=row.get("last_relationship_survey_at"),
        service_followups=row.get("service_followups", True),
    )


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, Mapping) else getattr(value, key, None)


def _as_date(value: Any) -> date | None:
    """Birth dates travel as personal (encrypted) fields; anything that is not a date is unknown."""
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None
