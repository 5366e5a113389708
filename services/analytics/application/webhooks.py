"""Outbound webhooks: subscriptions as data, routing from the topics, delivery, replay.

Three parts, each a use case over ports (docs/webhooks.md, docs/adr/0010-webhooks.md):

* **Subscriptions** (the API): create, change, rotate the secret, delete, replay from an instant,
  put dead letters back in line. Every change runs in the caller's unit of work.
* **Routing** (``route_events``, run by the ``analytics-webhooks`` consumer over every topic): each
  event a subscription wants becomes one *delivery* row, in the consumer kit's transaction, so an
  event is recorded for a subscription exactly once however often Kafka redelivers it.
* **Delivery** (``DeliveryWorker``, the ``c360 worker analytics webhooks`` process): sends the first
  pending delivery of every (subscription, customer) line, signed; a failure is retried with
  exponential backoff and holds the customer's later deliveries back (order per customer); after
  ``max_attempts`` it is dead-lettered and the line moves on; an endpoint failing
  ``disable_after`` attempts in a row is disabled and ``WebhookEndpointDisabled`` published. One
  worker delivers at a time (a PostgreSQL advisory lock); other replicas wait as hot standbys.
  Replays (``ReplayRunner``) read the topics again from the requested instant.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

import asyncpg
import orjson

from services.analytics.adapters import webhooks as store
from services.analytics.application.ports import ReadModel
from services.analytics.domain import webhooks as wh
from shared.clock import Clock
from shared.consuming.consumer import KeyProvider, PoisonRecord, RawRecord, ReceivedEvent, decode_record, validate
from shared.contracts.analytics import WebhookEndpointDisabled
from shared.errors import Conflict, InvalidInput, NotFound
from shared.events.catalog import CATALOG, Catalog, DomainEvent
from shared.shredding import decrypt_fields, is_encrypted
from shared.store.db import DATABASE_UNAVAILABLE
from shared.store.eventstore import EventStore
from shared.store.outcomes import Accepted, Created, Deleted, Updated
from shared.store.ports import Work
from shared.store.versions import ensure_version_matches

log = logging.getLogger(__name__)

ROUTER_NAME = "analytics-webhooks"
"""Consumer group and inbox key of the routing consumer."""

ADVISORY_LOCK = 0x7768_6B73  # "whks": one delivering worker at a time
SUBSCRIPTION_STREAM_TYPE = "webhook-subscription"


def subscription_stream(subscription_id: UUID) -> str:
    return f"webhook-subscription-{subscription_id}"


def known_event_types(catalog: Catalog = CATALOG) -> dict[str, type[DomainEvent]]:
    """Event types a subscription may ask for (latest version of each)."""
    latest: dict[str, type[DomainEvent]] = {}
    for model in catalog:
        current = latest.get(model.event_type)
        if current is None or model.event_version > current.event_version:
            latest[model.event_type] = model
    return latest


# ---------------------------------------------------------------------------------------- subscriptions


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    """What a client may set on a subscription (already shaped by the API schema)."""

    url: str
    event_types: list[str]
    filter: list[dict[str, Any]] = field(default_factory=list)
    personal_data: bool = False
    description: str = ""


def validate_spec(spec: SubscriptionSpec, *, allow_private: bool) -> SubscriptionSpec:
    """The spec with its URL checked (SSRF), types known and filter fields existing; else 422."""
    wh.check_url(spec.url, allow_private=allow_private)
    types = known_event_types()
    wanted = sorted(set(spec.event_types))
    if not wanted:
        raise InvalidInput("event_types lists at least one event type, or '*' for all", field="event_types")
    if wh.ALL_TYPES in wanted and len(wanted) > 1:
        raise InvalidInput("'*' already means every event type; list it alone", field="event_types")
    unknown = [t for t in wanted if t != wh.ALL_TYPES and t not in types]
    if unknown:
        raise InvalidInput(f"unknown event type(s): {', '.join(unknown[:5])}", field="event_types")
    models = types.values() if wanted == [wh.ALL_TYPES] else [types[t] for t in wanted]
    fields = {name for model in models for name in model.model_fields}
    wh.parse_filter(spec.filter, fields)
    return SubscriptionSpec(spec.url, wanted, [dict(c) for c in spec.filter], spec.personal_data, spec.description)


def new_secret() -> str:
    return wh.encode_secret(os.urandom(wh.SECRET_BYTES))


def _view(row: Mapping[str, Any], *, secret: str | None = None) -> dict[str, Any]:
    """The subscription as the API shows it; its secret only in the answers that make one."""
    body = store.subscription_view(row)
    if secret is not None:
        body["secret"] = secret
    return body


async def create_subscription(uow: Work[ReadModel], *, spec: SubscriptionSpec, now: datetime,
                              allow_private: bool) -> Created:
    """Record a subscription; its secret is in this answer and never shown again."""
    spec = validate_spec(spec, allow_private=allow_private)
    secret = new_secret()
    row = await uow.rows.insert_subscription({
        "id": uuid.uuid4(), "url": spec.url, "description": spec.description, "event_types": spec.event_types,
        "filter": spec.filter, "personal_data": spec.personal_data, "secret": secret, "now": now,
    })
    return Created(_view(row, secret=secret), str(row["id"]), row["version"])


async def _locked(uow: Work[ReadModel], subscription_id: UUID, expected_version: int | None) -> Mapping[str, Any]:
    row = await uow.rows.subscription(subscription_id, lock=True)
    if row is None:
        raise NotFound(f"no webhook subscription {subscription_id}")
    ensure_version_matches(expected_version, row["version"])
    return row


async def update_subscription(uow: Work[ReadModel], *, subscription_id: UUID, changes: Mapping[str, Any],
                              expected_version: int | None, now: datetime, allow_private: bool) -> Updated:
    """Change a subscription; ``status: active`` re-enables a disabled one (its waiting deliveries resume)."""
    row = await _locked(uow, subscription_id, expected_version)
    current = store.subscription_view(row)
    merged = SubscriptionSpec(
        url=changes.get("url", current["url"]),
        event_types=list(changes.get("event_types", current["event_types"])),
        filter=list(changes.get("filter", current["filter"])),
        personal_data=bool(changes.get("personal_data", current["personal_data"])),
        description=changes.get("description", current["description"]),
    )
    spec = validate_spec(merged, allow_private=allow_private)
    values: dict[str, Any] = {"url": spec.url, "event_types": spec.event_types, "filter": spec.filter,
                              "personal_data": spec.personal_data, "description": spec.description}
    status = changes.get("status")
    if status == "active" and row["status"] == "disabled":
        values.update(status="active", consecutive_failures=0, disabled_at=None, disabled_reason=None)
    elif status == "disabled" and row["status"] == "active":
        values.update(status="disabled", disabled_at=now, disabled_reason="disabled by an operator")
    updated = await uow.rows.update_subscription(subscription_id, values, now)
    if values.get("status") == "active":
        await uow.rows.wake_delivery()
    return Updated(_view(updated), updated["version"])


async def rotate_secret(uow: Work[ReadModel], *, subscription_id: UUID, expected_version: int | None,
                        now: datetime, grace: timedelta) -> Updated:
    """A new secret (shown once); the old one keeps signing alongside it for ``grace``."""
    row = await _locked(uow, subscription_id, expected_version)
    secret = new_secret()
    until = now + grace if grace.total_seconds() > 0 else None
    updated = await uow.rows.update_subscription(
        subscription_id,
        {"secret": secret, "previous_secret": row["secret"] if until else None, "previous_secret_until": until},
        now)
    return Updated(_view(updated, secret=secret), updated["version"])


async def delete_subscription(uow: Work[ReadModel], *, subscription_id: UUID,
                              expected_version: int | None) -> Deleted:
    """Remove a subscription with its deliveries, attempts and replays."""
    await _locked(uow, subscription_id, expected_version)
    await uow.rows.delete_subscription(subscription_id)
    return Deleted()


MAX_WAITING_REPLAYS = 3


async def request_replay(uow: Work[ReadModel], *, subscription_id: UUID, since: datetime,
                         now: datetime) -> Accepted:
    """Queue a replay: every wanted event since ``since`` is delivered again (as new deliveries).

    The API answers where to follow it: ``/v1/webhooks/subscriptions/{id}/replays``.
    """
    await _locked(uow, subscription_id, None)
    if since > now:
        raise InvalidInput("since is in the future; nothing happened after it yet", field="since")
    if await uow.rows.replays_waiting(subscription_id) >= MAX_WAITING_REPLAYS:
        raise Conflict(f"this subscription already has {MAX_WAITING_REPLAYS} replays waiting; let them finish first")
    row = await uow.rows.insert_replay(uuid.uuid4(), subscription_id, since, now)
    return Accepted(replay_view(row), str(subscription_id))


async def redeliver_dead_letters(uow: Work[ReadModel], *, subscription_id: UUID, now: datetime) -> Updated:
    """Put every dead-lettered delivery of the subscription back in line, attempts reset."""
    await _locked(uow, subscription_id, None)
    count = await uow.rows.requeue_dead(subscription_id, now)
    return Updated({"requeued": count})


def replay_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": str(row["id"]), "subscription_id": str(row["subscription_id"]), "since": store.instant(row["since"]),
            "status": row["status"], "events_read": row["events_read"], "events_matched": row["events_matched"],
            "error": row["error"], "requested_at": store.instant(row["requested_at"]),
            "finished_at": store.instant(row["finished_at"])}


def delivery_view(row: Mapping[str, Any], *, with_payload: bool = False) -> dict[str, Any]:
    """A delivery for the log: status, attempts with status codes and latency; sealed values never shown."""
    attempts = orjson.loads(row["attempt_log"]) if isinstance(row["attempt_log"], str) else row["attempt_log"]
    view = {
        "id": str(row["id"]), "event_id": str(row["event_id"]), "event_type": row["event_type"],
        "event_time": store.instant(row["event_time"]), "customer_key": row["ordering_key"], "status": row["status"],
        "attempts": row["attempts"], "last_status_code": row["last_status_code"], "last_error": row["last_error"],
        "next_attempt_at": store.instant(row["next_attempt_at"]) if row["status"] == "pending" else None,
        "created_at": store.instant(row["created_at"]), "delivered_at": store.instant(row["delivered_at"]),
        "dead_at": store.instant(row["dead_at"]),
        "replay_id": str(row["replay_id"]) if row["replay_id"] else None,
        "attempt_log": attempts,
    }
    if with_payload:
        payload = orjson.loads(row["payload"]) if isinstance(row["payload"], str) else dict(row["payload"])
        payload["data"] = {k: (None if is_encrypted(v) else v) for k, v in payload.get("data", {}).items()}
        view["payload"] = payload
    return view


# ---------------------------------------------------------------------------------------- routing


@dataclass(frozen=True, slots=True)
class Routable:
    """A subscription as routing sees it."""

    id: UUID
    personal_data: bool
    selection: wh.Selection


def routable(rows: Sequence[Mapping[str, Any]]) -> list[Routable]:
    return [Routable(r["id"], r["personal_data"], store.selection_of(r)) for r in rows]


def deliveries_for(
    received: ReceivedEvent,
    subscriptions: Sequence[Routable],
    *,
    now: datetime,
    replay_id: UUID | None = None,
) -> list[tuple[Any, ...]]:
    """Delivery rows of one event for every subscription that wants it.

    Personal fields: withheld (null) for a subscription without the right; for one with it, kept
    sealed as the topic carries them (the envelope's ciphertext), opened only when sent.
    """
    event = received.event
    personal = type(event).personal_fields()
    defined = type(event).model_fields.keys()
    data = event.model_dump(mode="json")
    withheld = wh.withhold_personal(data, personal) if personal else data
    sealed: dict[str, Any] | None = None
    rows = []
    for sub in subscriptions:
        visible = data if sub.personal_data else withheld
        if not sub.selection.wants(event.event_type, visible, defined):
            continue
        body_data = withheld
        if sub.personal_data and personal:
            if sealed is None:
                raw = received.envelope.data_dict()
                sealed = {**withheld, **{k: raw[k] for k in personal if is_encrypted(raw.get(k))}}
            body_data = sealed
        payload = wh.webhook_payload(
            event_id=str(received.event_id), event_type=event.event_type, version=event.event_version,
            source=received.envelope.source, subject=received.subject,
            time=received.time.astimezone(UTC).isoformat().replace("+00:00", "Z"), data=body_data,
            personal_data="included" if sub.personal_data else "withheld",
        )
        rows.append((uuid.uuid4(), sub.id, received.event_id, event.event_type, received.time,
                     received.envelope.source, received.subject, replay_id, orjson.dumps(payload).decode(), now))
    return rows


async def route_events(conn: asyncpg.Connection, events: Sequence[ReceivedEvent], *, now: datetime) -> int:
    """Record a delivery for every (event, subscription that wants it); one statement per batch."""
    subscriptions = routable(await store.routable_subscriptions(conn))
    if not subscriptions:
        return 0
    rows = [row for received in events for row in deliveries_for(received, subscriptions, now=now)]
    return await store.insert_deliveries(conn, rows)


# ---------------------------------------------------------------------------------------- delivery


class Sender(Protocol):
    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> store.SendResult: ...


@dataclass
class DeliveryStats:
    """What the worker itself went through; each attempt's outcome is in ``webhook_attempts``."""

    interruptions: int = 0
    """Times the database went away under the worker and it stood down to try again."""


class DeliveryWorker:
    """Sends due deliveries, one per (subscription, customer) line at a time; see the module docstring."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        sender: Sender,
        policy: wh.RetryPolicy,
        disable_after: int,
        event_store: EventStore,
        clock: Clock,
        keys: KeyProvider | None = None,
        concurrency: int = 16,
        poll_seconds: float = 5.0,
        wall: Callable[[], float] = time.time,
        on_idle: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.pool = pool
        self.sender = sender
        self.policy = policy
        self.disable_after = disable_after
        self.event_store = event_store
        self.clock = clock
        self.keys = keys
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.wall = wall
        self.on_idle = on_idle
        self.stats = DeliveryStats()
        self._wake = asyncio.Event()
        self._inflight: dict[tuple[UUID, str], asyncio.Task[None]] = {}
        self._resting: dict[tuple[UUID, str], float] = {}

    def wake(self, *_: object) -> None:
        """Something changed (a routed delivery, a re-enabled endpoint): look again now."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, *, listen_dsn: str | None = None) -> None:
        """Deliver until ``stop``; survives a database restart by standing down and trying again.

        Only one replica delivers (an advisory lock); a lost connection loses the lock, so after an
        outage this worker queues for it again like a fresh replica. Nothing is lost meanwhile: the
        deliveries wait in their table, and one sent but not recorded is sent again (the receiver
        deduplicates by webhook-id).
        """
        backoff = self.poll_seconds
        while not stop.is_set():
            try:
                await self._lead(stop, listen_dsn)
                backoff = self.poll_seconds
            except Exception as exc:
                self.stats.interruptions += 1
                expected = isinstance(exc, DATABASE_UNAVAILABLE)
                log.log(logging.WARNING if expected else logging.ERROR, "webhook delivery interrupted; retrying",
                        extra={"error": repr(exc), "retry_in_s": backoff}, exc_info=not expected)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=backoff)
                backoff = min(backoff * 2, 10.0)

    async def _lead(self, stop: asyncio.Event, listen_dsn: str | None) -> None:
        leader = await self.pool.acquire()
        listener: asyncpg.Connection | None = None
        try:
            while not await leader.fetchval("select pg_try_advisory_lock($1)", ADVISORY_LOCK):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
                if stop.is_set():
                    return
            log.info("webhook delivery: this worker delivers")
            if listen_dsn is not None:
                listener = await asyncpg.connect(listen_dsn)
                await listener.add_listener(store.NOTIFY_CHANNEL, self.wake)
            while not stop.is_set():
                await self.step(stop)
        finally:
            for task in self._inflight.values():
                task.cancel()
            await asyncio.gather(*self._inflight.values(), return_exceptions=True)
            self._inflight.clear()
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.close(timeout=5)
            with contextlib.suppress(Exception):
                await leader.execute("select pg_advisory_unlock($1)", ADVISORY_LOCK)
            with contextlib.suppress(Exception):
                await self.pool.release(leader)

    async def step(self, stop: asyncio.Event | None = None) -> int:
        """Start what is due (up to the concurrency), then wait for a completion, a wake-up or a timeout."""
        self._wake.clear()
        started = await self._start_due()
        waiters: set[asyncio.Future[Any]] = set(self._inflight.values())
        wake = asyncio.ensure_future(self._wake.wait())
        waiters.add(wake)
        stopper = asyncio.ensure_future(stop.wait()) if stop is not None else None
        if stopper is not None:
            waiters.add(stopper)
        timeout = self.poll_seconds
        if not self._inflight:
            if self.on_idle is not None:
                await self.on_idle()
            async with self.pool.acquire() as conn:
                due = await store.next_due(conn)
            if due is not None:  # at least a moment: a due line may be resting after an error
                timeout = max(0.05, min(timeout, (due - self.clock.now()).total_seconds()))
        if started == 0 or not self._inflight:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        else:
            await asyncio.wait(waiters, timeout=0, return_when=asyncio.FIRST_COMPLETED)
        wake.cancel()
        if stopper is not None:
            stopper.cancel()
        return started

    async def _start_due(self) -> int:
        free = self.concurrency - len(self._inflight)
        if free <= 0:
            return 0
        async with self.pool.acquire() as conn:
            heads = await store.due_heads(conn, self.clock.now(), free + len(self._inflight))
            resting_until = time.monotonic()
            self._resting = {k: v for k, v in self._resting.items() if v > resting_until}
            heads = [h for h in heads if (h["subscription_id"], h["ordering_key"]) not in self._inflight
                     and (h["subscription_id"], h["ordering_key"]) not in self._resting][:free]
            if not heads:
                return 0
            subs = {r["id"]: r for r in await store.sending_subscriptions(conn, list({h["subscription_id"]
                                                                                     for h in heads}))}
        keys = await self._keys_for(heads, subs)
        for head in heads:
            line = (head["subscription_id"], head["ordering_key"])
            task = asyncio.create_task(self._deliver(head, subs[head["subscription_id"]], keys))
            self._inflight[line] = task
            task.add_done_callback(functools.partial(self._finished, line))
        return len(heads)

    def _finished(self, line: tuple[UUID, str], _task: object = None) -> None:
        task = self._inflight.pop(line, None)
        if task is not None and not task.cancelled() and task.exception() is not None:
            # e.g. the database went away between sending and recording: the line rests, then the
            # delivery is sent again (at least once; the receiver deduplicates by webhook-id).
            log.error("webhook delivery failed unexpectedly; it is tried again", exc_info=task.exception())
            self._resting[line] = time.monotonic() + self.poll_seconds
        self._wake.set()

    async def _keys_for(self, heads: Sequence[Mapping[str, Any]],
                        subs: Mapping[UUID, Mapping[str, Any]]) -> dict[tuple[str, str], bytes]:
        wanted: dict[str, set[str]] = {}
        for head in heads:
            if subs[head["subscription_id"]]["personal_data"] and _has_sealed(head["payload"]):
                wanted.setdefault(head["source"], set()).add(head["ordering_key"])
        found: dict[tuple[str, str], bytes] = {}
        if self.keys is not None:
            for source, subjects in wanted.items():
                for subject, key in (await self.keys.keys_for(source, subjects)).items():
                    found[(source, subject)] = key
        return found

    def body_of(self, head: Mapping[str, Any], key: bytes | None) -> bytes:
        """The bytes sent: the stored payload with sealed personal fields opened (null when erased)."""
        payload = _payload(head["payload"])
        data = payload.get("data", {})
        sealed = [k for k, v in data.items() if is_encrypted(v)]
        if sealed:
            payload["data"] = decrypt_fields(data, sealed, key, head["ordering_key"])
        return orjson.dumps(payload)

    async def _deliver(self, head: Mapping[str, Any], sub: Mapping[str, Any],
                       keys: Mapping[tuple[str, str], bytes]) -> None:
        body = self.body_of(head, keys.get((head["source"], head["ordering_key"])))
        headers = wh.signed_headers(store.secrets_of(sub, self.clock.now()), str(head["id"]), int(self.wall()), body)
        result = await self.sender.send(sub["url"], body, headers)
        await self._record(head, sub, result)

    async def _record(self, head: Mapping[str, Any], sub: Mapping[str, Any], result: store.SendResult) -> None:
        now = self.clock.now()
        attempt = head["attempts"] + 1
        ok = wh.succeeded(result.status_code)
        error = result.error if result.error else (None if ok else f"HTTP {result.status_code}")
        next_at = None if ok else self.policy.next_attempt(now, attempt, random.random())
        outcome = "delivered" if ok else ("pending" if next_at is not None else "dead")
        async with self.pool.acquire() as conn, conn.transaction():
            await store.record_attempt(conn, delivery_id=head["id"], subscription_id=head["subscription_id"],
                                       attempt=attempt, at=now, status_code=result.status_code,
                                       latency_ms=round(result.latency_ms, 3), error=error, outcome=outcome,
                                       next_attempt_at=next_at)
            after = await store.count_failure(conn, head["subscription_id"], not ok)
            if (after is not None and not ok and after["status"] == "active"
                    and wh.should_disable(after["consecutive_failures"], self.disable_after)):
                await self._disable(conn, after, result, error or "", now)

    async def _disable(self, conn: asyncpg.Connection, sub: Mapping[str, Any], result: store.SendResult,
                       error: str, now: datetime) -> bool:
        reason = f"{sub['consecutive_failures']} failed attempts in a row; last: {error}"[:500]
        if not await store.disable(conn, sub["id"], reason, now):
            return False
        stream = subscription_stream(sub["id"])
        version = await self.event_store.stream_version(conn, stream)
        await self.event_store.append(
            conn, stream_id=stream, stream_type=SUBSCRIPTION_STREAM_TYPE, expected_version=version,
            subject=str(sub["id"]), occurred_at=now,
            events=[WebhookEndpointDisabled(subscription_id=sub["id"], url=sub["url"],
                                            consecutive_failures=sub["consecutive_failures"],
                                            last_status_code=result.status_code, last_error=error[:300],
                                            disabled_at=now)],
        )
        log.warning("webhook endpoint disabled", extra={"subscription_id": str(sub["id"]), "reason": reason})
        return True


def _payload(value: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(value) if isinstance(value, str | bytes) else dict(value)
    return parsed


def _has_sealed(payload: Any) -> bool:
    return any(is_encrypted(v) for v in _payload(payload).get("data", {}).values())


# ---------------------------------------------------------------------------------------- replay


class RecordSource(Protocol):
    """Where a replay reads records: every partition of ``topics`` from ``since`` to today's end."""

    def read(self, topics: Sequence[str], since: datetime) -> Any: ...


class ReplayRunner:
    """Runs queued replays one at a time: reads the topics again and records new deliveries."""

    def __init__(self, pool: asyncpg.Pool, *, source: RecordSource, topics: Sequence[str], clock: Clock,
                 keys: KeyProvider | None = None, catalog: Catalog = CATALOG, chunk: int = 500) -> None:
        self.pool = pool
        self.source = source
        self.topics = list(topics)
        self.clock = clock
        self.keys = keys
        self.catalog = catalog
        self.chunk = chunk

    async def run_pending(self) -> int:
        """Run every queued (or interrupted) replay; how many ran."""
        ran = 0
        while True:
            async with self.pool.acquire() as conn:
                replay = await store.next_replay(conn)
            if replay is None:
                return ran
            await self.run(replay)
            ran += 1

    async def run(self, replay: Mapping[str, Any]) -> None:
        replay_id, since = replay["id"], replay["since"]
        matched = read = 0
        try:
            async with self.pool.acquire() as conn:
                await store.finish_replay(conn, replay_id, status="running", matched=0, read=0, error=None,
                                          now=self.clock.now())
                row = await store.subscription(conn, replay["subscription_id"])
            if row is None:
                return
            subscription = routable([row])
            async for records in self.source.read(self.topics, since):
                read += len(records)
                events = [e for e in await self._decode(records) if e.time >= since]
                rows = [r for e in events for r in deliveries_for(e, subscription, now=self.clock.now(),
                                                                  replay_id=replay_id)]
                async with self.pool.acquire() as conn, conn.transaction():
                    matched += await store.insert_deliveries(conn, rows) if rows else 0
                    await store.finish_replay(conn, replay_id, status="running", matched=matched, read=read,
                                              error=None, now=self.clock.now())
            async with self.pool.acquire() as conn:
                await store.finish_replay(conn, replay_id, status="done", matched=matched, read=read, error=None,
                                          now=self.clock.now())
        except Exception as exc:
            log.exception("webhook replay failed", extra={"replay_id": str(replay_id)})
            async with self.pool.acquire() as conn:  # if this fails too, the replay is retried later
                await store.finish_replay(conn, replay_id, status="failed", matched=matched, read=read,
                                          error=repr(exc)[:500], now=self.clock.now())

    async def _decode(self, records: Sequence[RawRecord]) -> list[ReceivedEvent]:
        """Records as the consumer kit decodes them; poison records are skipped (the live path dead-letters them)."""
        pending = []
        for record in records:
            try:
                pending.append((record, *decode_record(record, self.catalog)))
            except PoisonRecord:
                continue
        wanted: dict[str, set[str]] = {}
        for _, envelope, data in pending:
            if any(is_encrypted(v) for v in data.values()):
                wanted.setdefault(envelope.source, set()).add(envelope.subject)
        keys: dict[tuple[str, str], bytes] = {}
        if self.keys is not None:
            for source, subjects in wanted.items():
                keys.update({(source, s): k for s, k in (await self.keys.keys_for(source, subjects)).items()})
        events = []
        for record, envelope, data in pending:
            sealed = [k for k, v in data.items() if is_encrypted(v)]
            opened = decrypt_fields(data, sealed, keys.get((envelope.source, envelope.subject)), envelope.subject)
            try:
                event = validate(envelope, opened, self.catalog)
            except PoisonRecord:
                continue
            events.append(ReceivedEvent(envelope, event, record.topic, record.partition, record.offset))
        return events
