"""Idempotency keys, stored in the same transaction as the command's effect.

Why inside the transaction: if the key were recorded in a transaction of its own, a crash between
"effect committed" and "answer stored" would leave a retry with two bad choices, running the command
twice or never answering. Here the key row, the events and the stored answer commit together.

Concurrency: the first request inserts the key row; a second request with the same key blocks on
that row until the first commits, then finds the stored answer and replays it. A failed command
rolls its key row back, so the client may retry it. The same key with a different request body is a
client error (422), never a silent replay of something else.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

import asyncpg

from shared.errors import ConcurrencyConflict, Conflict, InvalidInput
from shared.store.eventstore import EventStore
from shared.store.uow import RowsFactory, UnitOfWork

OutcomeT = TypeVar("OutcomeT")
Command = Callable[[UnitOfWork[Any]], Awaitable[OutcomeT]]
"""A use case bound to its inputs, waiting for its unit of work."""


@dataclass(frozen=True, slots=True)
class IdempotencyRequest:
    """A validated ``Idempotency-Key`` with what the store needs to honour it.

    Defined here, with the store that honours it, and built by the web kit from the request
    (``shared.web.idempotency_key``): the one shape both sides agree on.
    """

    key: str
    fingerprint: str
    scope: str


REPLAY_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True, slots=True)
class CommandResult:
    """The answer of a command, as it will be (re)played to the client."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    replayed: bool = False


async def _claim(conn: asyncpg.Connection, request: IdempotencyRequest) -> CommandResult | None:
    inserted = await conn.fetchval(
        """insert into idempotency_keys (scope, key, fingerprint) values ($1, $2, $3)
           on conflict (scope, key) do nothing returning true""",
        request.scope,
        request.key,
        request.fingerprint,
    )
    if inserted:
        return None
    row = await conn.fetchrow(
        "select fingerprint, status, body, headers from idempotency_keys where scope = $1 and key = $2",
        request.scope,
        request.key,
    )
    if row is None:  # the other request rolled back between our insert and select; treat as new
        raise Conflict("a request with this Idempotency-Key was just abandoned; retry it")
    if row["fingerprint"] != request.fingerprint:
        raise InvalidInput(
            "this Idempotency-Key was already used with a different request",
            idempotency_key=request.key,
        )
    if row["status"] is None:
        raise Conflict("a request with this Idempotency-Key is still being processed")
    return CommandResult(row["status"], row["body"], dict(row["headers"] or {}), replayed=True)


RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
ATTEMPTS = 4
CONFLICT_ATTEMPTS = 10
"""How often a command that did not ask for optimistic concurrency is run when it keeps losing races.

Each lost race means another writer committed to the same stream in between, so with up to this many
concurrent writers on one stream every one of them gets through; beyond it the 409 reaches the client.
"""


@overload
async def run_command(
    pool: asyncpg.Pool,
    store: EventStore,
    command: Command[OutcomeT],
    idempotency: IdempotencyRequest | None = None,
    *,
    present: Callable[[OutcomeT], CommandResult],
    retry_conflicts: bool = False,
    rows_factory: RowsFactory[Any] | None = None,
) -> CommandResult: ...


@overload
async def run_command(
    pool: asyncpg.Pool,
    store: EventStore,
    command: Command[OutcomeT],
    idempotency: None = None,
    *,
    present: None = None,
    retry_conflicts: bool = False,
    rows_factory: RowsFactory[Any] | None = None,
) -> OutcomeT: ...


async def run_command(
    pool: asyncpg.Pool,
    store: EventStore,
    command: Command[Any],
    idempotency: IdempotencyRequest | None = None,
    *,
    present: Callable[[Any], CommandResult] | None = None,
    retry_conflicts: bool = False,
    rows_factory: RowsFactory[Any] | None = None,
) -> Any:
    """Run ``command`` in a unit of work; with a key, at most once per key (replaying the answer).

    ``present`` turns the command's outcome into the answer the client gets, inside the
    transaction, so the stored answer of an idempotency key commits with the command's effect
    (an idempotency key needs it). Without it the outcome itself is returned (jobs, tests).

    A deadlock or serialization failure rolls the whole unit of work back, so running the command
    again from scratch is safe: it reloads its state. After a few attempts the error surfaces (the
    service kit answers 503 with Retry-After), never as a 500.

    ``retry_conflicts`` treats a lost optimistic-concurrency race (``ConcurrencyConflict``: another
    writer appended to the stream between our load and our append) the same way, up to
    ``CONFLICT_ATTEMPTS`` runs. Callers set it when the client did not ask for optimistic concurrency
    (no ``If-Match``): the conflict is then the server's own race (e.g. a consumer appending
    ``TicketCustomerVerified`` to a ticket an agent is resolving), not the client's stale read, and
    deciding again on the fresh state is what the client asked for. With ``If-Match`` the conflict
    is the client's to resolve, so it is answered (409), never retried.
    """
    if idempotency is not None and present is None:
        raise TypeError("an idempotent command needs 'present': its stored answer is what a retry replays")
    failures, conflicts = 0, 0
    while True:
        try:
            return await _run_once(pool, store, command, present, idempotency, rows_factory)
        except RETRYABLE:
            failures += 1
            if failures >= ATTEMPTS:
                raise
            await asyncio.sleep(random.uniform(0.005, 0.02) * failures)
        except ConcurrencyConflict:
            conflicts += 1
            if not retry_conflicts or conflicts >= CONFLICT_ATTEMPTS:
                raise
            # No sleep is needed for correctness (the winner has committed: our unique-index wait
            # ended with it), a little jitter keeps a crowd of losers from colliding again at once.
            await asyncio.sleep(random.uniform(0, 0.005) * conflicts)


async def _run_once(
    pool: asyncpg.Pool,
    store: EventStore,
    command: Command[Any],
    present: Callable[[Any], CommandResult] | None,
    idempotency: IdempotencyRequest | None,
    rows_factory: RowsFactory[Any] | None,
) -> Any:
    async with UnitOfWork(pool, store, rows_factory) as uow:
        if idempotency is not None:
            stored = await _claim(uow.conn, idempotency)
            if stored is not None:
                return stored
        outcome = await command(uow)
        if present is None:
            return outcome
        result = present(outcome)
        if idempotency is not None:
            await uow.conn.execute(
                "update idempotency_keys set status = $3, body = $4, headers = $5 where scope = $1 and key = $2",
                idempotency.scope,
                idempotency.key,
                result.status,
                result.body,
                result.headers,
            )
    return result


async def blank_stored_answers(
    conn: asyncpg.Connection, *, about: str, ids: Sequence[object], holding: str, fields: Sequence[str]
) -> int:
    """Blank ``fields`` in the stored answers whose body's ``about`` member is one of ``ids``; returns how many.

    An erasure must not leave the person's words in ``idempotency_keys``: the answer to a
    registration, a ticket or a note is stored for replays and holds personal fields. Only answers
    that hold ``holding`` (a member only that kind of answer has) are touched; the rows stay, so a
    retry still replays (without the personal fields) instead of running the command again.
    """
    result = await conn.execute(
        """update idempotency_keys set body = body || $3
           where jsonb_typeof(body) = 'object' and body->>$1::text = any($2::text[]) and body ? $4::text""",
        about,
        [str(i) for i in ids],
        dict.fromkeys(fields),
        holding,
    )
    return int(result.split()[-1])
