"""Webhooks' SQL and HTTP: subscriptions, deliveries, attempts and replays in ``public``, and the sender.

Thin on purpose: the decisions (who wants what, when to retry, when to disable) are in
``services.analytics.domain.webhooks`` and the flow in ``services.analytics.application.webhooks``.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.analytics.domain import webhooks as wh
from shared.consuming.consumer import RawRecord
from shared.events.envelope import format_time

NOTIFY_CHANNEL = "webhook_deliveries"
"""Routed deliveries ``NOTIFY`` this channel on commit so the delivery worker wakes up at once."""

SUBSCRIPTION_COLUMNS = """id, url, description, event_types, filter, personal_data, status, version,
    consecutive_failures, disabled_at, disabled_reason, created_at, updated_at, previous_secret_until"""


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    """What routing and delivery need of a subscription."""

    id: UUID
    url: str
    status: str
    personal_data: bool
    selection: wh.Selection
    secrets: tuple[str, ...]


async def _fetch(conn: asyncpg.Connection, sql: str, *args: Any) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
    return rows


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def instant(value: datetime | None) -> str | None:
    """RFC 3339 UTC text of a stored time (``None`` stays ``None``)."""
    return None if value is None else format_time(value)


def subscription_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A subscription as the API shows it (never its secret)."""
    return {
        "id": str(row["id"]),
        "url": row["url"],
        "description": row["description"],
        "event_types": list(row["event_types"]),
        "filter": _json(row["filter"]),
        "personal_data": row["personal_data"],
        "status": row["status"],
        "version": row["version"],
        "consecutive_failures": row["consecutive_failures"],
        "disabled_at": instant(row["disabled_at"]),
        "disabled_reason": row["disabled_reason"],
        "previous_secret_valid_until": instant(row["previous_secret_until"]),
        "created_at": instant(row["created_at"]),
        "updated_at": instant(row["updated_at"]),
    }


def selection_of(row: Mapping[str, Any]) -> wh.Selection:
    conditions = tuple(wh.Condition(c["field"], c["op"], c.get("value")) for c in _json(row["filter"]))
    return wh.Selection(frozenset(row["event_types"]), conditions)


def secrets_of(row: Mapping[str, Any], now: datetime) -> tuple[str, ...]:
    """The secrets that sign now: the current one, and the previous one during its grace period."""
    until = row["previous_secret_until"]
    if row["previous_secret"] and until is not None and until > now:
        return (row["secret"], row["previous_secret"])
    return (row["secret"],)


async def insert_subscription(conn: asyncpg.Connection, values: Mapping[str, Any]) -> asyncpg.Record:
    return await conn.fetchrow(
        f"""insert into public.webhook_subscriptions
               (id, url, description, event_types, filter, personal_data, secret, created_at, updated_at)
           values ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $8) returning {SUBSCRIPTION_COLUMNS}""",
        values["id"], values["url"], values["description"], values["event_types"],
        orjson.dumps(values["filter"]).decode(), values["personal_data"], values["secret"], values["now"],
    )


async def subscription(conn: asyncpg.Connection, subscription_id: UUID, *, lock: bool = False) -> asyncpg.Record | None:
    suffix = " for update" if lock else ""
    return await conn.fetchrow(
        f"select {SUBSCRIPTION_COLUMNS}, secret, previous_secret from public.webhook_subscriptions"
        f" where id = $1{suffix}", subscription_id)


async def list_subscriptions(conn: asyncpg.Connection, *, after: UUID | None, limit: int) -> list[asyncpg.Record]:
    return await _fetch(conn,
        f"""select {SUBSCRIPTION_COLUMNS} from public.webhook_subscriptions
            where $1::uuid is null or id > $1 order by id limit $2""", after, limit)


async def update_subscription(conn: asyncpg.Connection, subscription_id: UUID, changes: Mapping[str, Any],
                              now: datetime) -> asyncpg.Record:
    sets, args = [], [subscription_id, now]
    for name, value in changes.items():
        args.append(orjson.dumps(value).decode() if name == "filter" else value)
        sets.append(f"{name} = ${len(args)}" + ("::jsonb" if name == "filter" else ""))
    return await conn.fetchrow(
        f"""update public.webhook_subscriptions set {", ".join([*sets, "version = version + 1", "updated_at = $2"])}
            where id = $1 returning {SUBSCRIPTION_COLUMNS}""", *args)


async def delete_subscription(conn: asyncpg.Connection, subscription_id: UUID) -> None:
    await conn.execute("delete from public.webhook_subscriptions where id = $1", subscription_id)


async def routable_subscriptions(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every subscription, active or disabled: a disabled endpoint keeps its deliveries waiting."""
    return await _fetch(conn,
        "select id, url, status, personal_data, event_types, filter, version from public.webhook_subscriptions")


async def insert_deliveries(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """Record deliveries (id, subscription, event id/type/time, source, key, replay, payload, now)."""
    if not rows:
        return 0
    result = await conn.fetch(
        """insert into public.webhook_deliveries
               (id, subscription_id, event_id, event_type, event_time, source, ordering_key, replay_id,
                payload, next_attempt_at, created_at)
           select d.id, d.subscription_id, d.event_id, d.event_type, d.event_time, d.source, d.ordering_key,
                  d.replay_id, d.payload::jsonb, d.now, d.now
           from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[], $6::text[], $7::text[],
                       $8::uuid[], $9::text[], $10::timestamptz[])
                as d(id, subscription_id, event_id, event_type, event_time, source, ordering_key, replay_id,
                     payload, now)
           on conflict do nothing
           returning id""",
        *[list(column) for column in zip(*rows, strict=True)],
    )
    if result:
        await conn.execute("select pg_notify($1, '')", NOTIFY_CHANNEL)
    return len(result)


DUE_HEADS = """
with heads as (
    select distinct on (d.subscription_id, d.ordering_key) d.*
    from public.webhook_deliveries d
    join public.webhook_subscriptions s on s.id = d.subscription_id and s.status = 'active'
    where d.status = 'pending'
    order by d.subscription_id, d.ordering_key, d.event_time, d.seq
)
select h.id, h.subscription_id, h.event_id, h.event_type, h.source, h.ordering_key, h.payload, h.attempts,
       h.next_attempt_at
from heads h where h.next_attempt_at <= $1
order by h.next_attempt_at, h.seq
limit $2
"""


async def due_heads(conn: asyncpg.Connection, now: datetime, limit: int) -> list[asyncpg.Record]:
    """The first pending delivery of each (subscription, customer) line, if it is due: order per customer."""
    return await _fetch(conn, DUE_HEADS, now, limit)


async def next_due(conn: asyncpg.Connection) -> datetime | None:
    value: datetime | None = await conn.fetchval(
        """select min(d.next_attempt_at) from public.webhook_deliveries d
           join public.webhook_subscriptions s on s.id = d.subscription_id and s.status = 'active'
           where d.status = 'pending'""")
    return value


async def sending_subscriptions(conn: asyncpg.Connection, ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await _fetch(conn,
        f"select {SUBSCRIPTION_COLUMNS}, secret, previous_secret from public.webhook_subscriptions"
        " where id = any($1::uuid[])", list(ids))


async def record_attempt(
    conn: asyncpg.Connection,
    *,
    delivery_id: UUID,
    subscription_id: UUID,
    attempt: int,
    at: datetime,
    status_code: int | None,
    latency_ms: float,
    error: str | None,
    outcome: str,
    next_attempt_at: datetime | None,
) -> None:
    """One attempt and its consequence for the delivery (delivered, retried later or dead)."""
    await conn.execute(
        """insert into public.webhook_attempts
               (delivery_id, attempt, subscription_id, attempted_at, status_code, latency_ms, error)
           values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing""",
        delivery_id, attempt, subscription_id, at, status_code, latency_ms, error)
    await conn.execute(
        """update public.webhook_deliveries set attempts = $2, last_status_code = $3, last_error = $4,
               status = $5::text, next_attempt_at = coalesce($6::timestamptz, next_attempt_at),
               delivered_at = case when $5::text = 'delivered' then $7::timestamptz end,
               dead_at = case when $5::text = 'dead' then $7::timestamptz end
           where id = $1""",
        delivery_id, attempt, status_code, error, outcome, next_attempt_at, at)


async def count_failure(conn: asyncpg.Connection, subscription_id: UUID, failed: bool) -> asyncpg.Record | None:
    """Count a failed attempt in a row (or reset the count on success); the subscription after a failure.

    A success touches the subscription's row only when there is a count to reset: every concurrent
    delivery of a healthy endpoint would otherwise queue on that one row lock, one commit at a time.
    """
    if not failed:
        await conn.execute("""update public.webhook_subscriptions set consecutive_failures = 0
                              where id = $1 and consecutive_failures <> 0""", subscription_id)
        return None
    return await conn.fetchrow(
        """update public.webhook_subscriptions set consecutive_failures = consecutive_failures + 1
           where id = $1 returning id, url, status, consecutive_failures""",
        subscription_id)


async def disable(conn: asyncpg.Connection, subscription_id: UUID, reason: str, now: datetime) -> bool:
    """Disable an active subscription; False if it was not active (someone else did, or it is gone)."""
    row = await conn.fetchval(
        """update public.webhook_subscriptions set status = 'disabled', disabled_at = $3, disabled_reason = $2,
               version = version + 1, updated_at = $3
           where id = $1 and status = 'active' returning true""",
        subscription_id, reason, now)
    return bool(row)


ATTEMPT_LOG = """coalesce((
    select jsonb_agg(jsonb_build_object(
        'attempt', a.attempt,
        'attempted_at', to_char(a.attempted_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'status_code', a.status_code, 'latency_ms', a.latency_ms, 'error', a.error) order by a.attempt)
    from public.webhook_attempts a where a.delivery_id = d.id), '[]'::jsonb) as attempt_log"""


async def deliveries(conn: asyncpg.Connection, subscription_id: UUID, *, status: str | None, before: int | None,
                     limit: int) -> list[asyncpg.Record]:
    return await _fetch(conn,
        f"""select d.*, {ATTEMPT_LOG}
           from public.webhook_deliveries d
           where d.subscription_id = $1 and ($2::text is null or d.status = $2)
             and ($3::bigint is null or d.seq < $3)
           order by d.seq desc limit $4""",
        subscription_id, status, before, limit)


async def delivery(conn: asyncpg.Connection, subscription_id: UUID, delivery_id: UUID) -> asyncpg.Record | None:
    rows = await conn.fetch(
        f"""select d.*, {ATTEMPT_LOG}
           from public.webhook_deliveries d where d.subscription_id = $1 and d.id = $2""",
        subscription_id, delivery_id)
    return rows[0] if rows else None


async def requeue_dead(conn: asyncpg.Connection, subscription_id: UUID, now: datetime) -> int:
    """Dead deliveries back in line, attempt counters reset (their attempt log is kept)."""
    result: str = await conn.execute(
        """update public.webhook_deliveries set status = 'pending', attempts = 0, next_attempt_at = $2, dead_at = null
           where subscription_id = $1 and status = 'dead'""",
        subscription_id, now)
    count = int(result.split()[-1])
    if count:
        await conn.execute("select pg_notify($1, '')", NOTIFY_CHANNEL)
    return count


async def wake_delivery(conn: asyncpg.Connection) -> None:
    """``NOTIFY`` the delivery worker (delivered on commit): deliveries may be due now."""
    await conn.execute("select pg_notify($1, '')", NOTIFY_CHANNEL)


async def replays_waiting(conn: asyncpg.Connection, subscription_id: UUID) -> int:
    """How many replays of the subscription are queued or running."""
    count: int = await conn.fetchval(
        "select count(*) from public.webhook_replays where subscription_id = $1 and status in ('queued', 'running')",
        subscription_id)
    return count


async def insert_replay(conn: asyncpg.Connection, replay_id: UUID, subscription_id: UUID, since: datetime,
                        now: datetime) -> asyncpg.Record:
    row = await conn.fetchrow(
        """insert into public.webhook_replays (id, subscription_id, since, requested_at) values ($1, $2, $3, $4)
           returning *""", replay_id, subscription_id, since, now)
    await conn.execute("select pg_notify($1, '')", NOTIFY_CHANNEL)
    return row


async def replays(conn: asyncpg.Connection, subscription_id: UUID, limit: int) -> list[asyncpg.Record]:
    return await _fetch(conn,
        "select * from public.webhook_replays where subscription_id = $1 order by requested_at desc, id limit $2",
        subscription_id, limit)


async def next_replay(conn: asyncpg.Connection) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """select r.*, s.id as sid from public.webhook_replays r
           join public.webhook_subscriptions s on s.id = r.subscription_id
           where r.status in ('queued', 'running') order by r.requested_at, r.id limit 1""")


async def finish_replay(conn: asyncpg.Connection, replay_id: UUID, *, status: str, matched: int, read: int,
                        error: str | None, now: datetime) -> None:
    await conn.execute(
        """update public.webhook_replays set status = $2::text, events_matched = $3, events_read = $4, error = $5,
               finished_at = case when $2::text in ('done', 'failed') then $6::timestamptz end
           where id = $1""", replay_id, status, matched, read, error, now)


# ---------------------------------------------------------------------------------------- HTTP


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one attempt got: a status code, or ``None`` and an error (timeout, refused, ...)."""

    status_code: int | None
    latency_ms: float
    error: str | None


class HttpSender:
    """POSTs signed bodies; never follows redirects; re-checks where a host name points (SSRF)."""

    def __init__(self, *, timeout: float, allow_private: bool, user_agent: str = "Customer360-Webhooks/1") -> None:
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=False,
                                         headers={"user-agent": user_agent}, trust_env=False)
        self._allow_private = allow_private

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        started = time.perf_counter()
        try:
            refusal = await self._refusal(url)
            if refusal is not None:
                return SendResult(None, (time.perf_counter() - started) * 1000, refusal)
            response = await self._client.post(url, content=body, headers=dict(headers))
            await response.aclose()
            return SendResult(response.status_code, (time.perf_counter() - started) * 1000, None)
        except httpx.TimeoutException as exc:
            return SendResult(None, (time.perf_counter() - started) * 1000, f"timeout ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return SendResult(None, (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}"[:300])

    async def _refusal(self, url: str) -> str | None:
        try:
            target = wh.check_url(url, allow_private=self._allow_private)
        except Exception as exc:
            return f"refused: {exc}"[:300]
        if self._allow_private or target.address is not None:
            return None
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(target.host, None, type=socket.SOCK_STREAM)
        except OSError as exc:
            return f"host name does not resolve: {exc}"[:300]
        if not wh.resolved_addresses_allowed((str(info[4][0]) for info in infos), allow_private=False):
            return "refused: the host name resolves to a private, loopback or reserved address"
        return None

    async def close(self) -> None:
        await self._client.aclose()


# ---------------------------------------------------------------------------------------- replay source


class KafkaRecordSource:
    """Reads every partition of some topics from an instant up to their end as of the start (aiokafka).

    No consumer group: a replay reads on its own and commits nothing. The start offset of each
    partition is the first record whose Kafka timestamp is at or after ``since`` (a record is
    published after its event happened, so no event at or after ``since`` is skipped; the caller
    drops the older ones, e.g. imported history published today).
    """

    def __init__(self, bootstrap_servers: str, *, batch: int = 500) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.batch = batch

    async def read(self, topics: Sequence[str], since: datetime) -> Any:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap_servers, enable_auto_commit=False,
                                    group_id=None, auto_offset_reset="earliest")
        await consumer.start()
        try:
            # The whole cluster's metadata (what ``consumer.topics()`` reads); a group-less consumer's own
            # metadata only covers what it was assigned, and we need the partitions to assign them.
            cluster = await consumer._client.fetch_all_metadata()
            partitions = [TopicPartition(topic, number) for topic in topics
                          for number in sorted(cluster.partitions_for_topic(topic) or ())]
            if not partitions:
                return
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in partitions})
            begin = {tp: starts[tp].offset for tp in partitions if starts.get(tp) is not None}
            remaining = {tp: ends[tp] for tp, offset in begin.items() if offset < ends[tp]}
            if not remaining:
                return
            consumer.assign(list(remaining))
            for tp in remaining:
                consumer.seek(tp, begin[tp])
            while remaining:
                fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=self.batch)
                records = []
                for tp, batch in fetched.items():
                    end = remaining.get(tp)
                    for record in batch:
                        if end is not None and record.offset < end:
                            records.append(RawRecord(record.topic, record.partition, record.offset, record.key,
                                                     record.value, tuple(record.headers or ())))
                    if batch and end is not None and batch[-1].offset + 1 >= end:
                        remaining.pop(tp, None)
                for tp in list(remaining):
                    if await consumer.position(tp) >= remaining[tp]:
                        remaining.pop(tp)
                if records:
                    yield records
        finally:
            await consumer.stop()
