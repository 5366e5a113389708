"""The unit of work: one connection, one transaction, and the only place that commits.

Command handlers receive a ``UnitOfWork`` and do all their writes through it: events (through the
event store, which also fills the outbox), inline read models, the idempotency record. Leaving the
``async with`` block normally commits; an exception rolls everything back. Nothing else commits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Generic, Self

import asyncpg
from typing_extensions import TypeVar, Unpack

from shared.events.catalog import DomainEvent
from shared.store.eventstore import AppendArgs, EventStore, Outbox, RecordedEvent

RowsT = TypeVar("RowsT", default=Any)
"""A unit of work opened without a read model is a ``UnitOfWork[Any]`` (relays, importers, consumers)."""
RowsFactory = Callable[[asyncpg.Connection], RowsT]
"""Builds a service's read-model adapter on the unit of work's connection (given by its bootstrap)."""

_BEGIN_ATTEMPTS = 3
_BROKEN_CONNECTION = (
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    ConnectionError,
)


class UnitOfWork(Generic[RowsT]):
    """A transaction on a pooled connection, with the service's event store bound to it.

    It is the PostgreSQL ``shared.store.ports.Work``: ``load`` and ``append`` on the event store,
    ``rows`` the service's read-model adapter (built by ``rows_factory`` on this connection).
    """

    def __init__(
        self, pool: asyncpg.Pool, store: EventStore, rows_factory: RowsFactory[RowsT] | None = None
    ) -> None:
        self._pool = pool
        self.store = store
        self._rows_factory = rows_factory
        self._rows: RowsT | None = None
        self.outbox = Outbox()
        self._conn: Any = None
        self._tx: Any = None
        self.recorded: list[RecordedEvent] = []

    @property
    def conn(self) -> asyncpg.Connection:
        if self._conn is None:
            raise RuntimeError("UnitOfWork used outside 'async with'")
        conn: asyncpg.Connection = self._conn
        return conn

    @property
    def rows(self) -> RowsT:
        """The service's read-model adapter on this transaction's connection."""
        if self._rows is None:
            if self._rows_factory is None:
                raise RuntimeError("this unit of work was opened without a read model (rows_factory)")
            self._rows = self._rows_factory(self.conn)
        return self._rows

    async def load(self, stream_id: str) -> list[RecordedEvent]:
        """The stream's events in version order, read in this transaction."""
        return await self.store.load(self.conn, stream_id)

    async def load_sealed(self, stream_ids: Sequence[str]) -> dict[str, list[DomainEvent]]:
        """Several streams' events in one query, personal fields left sealed, read in this transaction."""
        return await self.store.load_sealed(self.conn, stream_ids)

    async def __aenter__(self) -> Self:
        # After a database restart the pool may hand out a connection whose socket died under it;
        # nothing has run yet when BEGIN fails, so drop that connection and take a fresh one.
        for attempt in range(1, _BEGIN_ATTEMPTS + 1):
            self._conn = await self._pool.acquire()
            try:
                self._tx = self._conn.transaction()
                await self._tx.start()
                return self
            except _BROKEN_CONNECTION:
                # asyncpg may already have detached the dead connection from its proxy
                with contextlib.suppress(asyncpg.exceptions.InterfaceError):
                    self._conn.terminate()
                with contextlib.suppress(asyncpg.exceptions.InterfaceError):
                    await self._pool.release(self._conn)
                self._conn = None
                if attempt == _BEGIN_ATTEMPTS:
                    raise
            except BaseException:
                await self._pool.release(self._conn)
                self._conn = None
                raise
        raise AssertionError("unreachable")

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                await self._tx.commit()
                self.store.count_committed(self.recorded)
            else:
                await self._tx.rollback()
        finally:
            await self._pool.release(self._conn)
            self._conn = None
            self._rows = None

    async def append(self, **append: Unpack[AppendArgs]) -> list[RecordedEvent]:
        """Append to the event store in this transaction (and queue the events for Kafka)."""
        recorded = await self.store.append(self.conn, **append)
        self.recorded.extend(recorded)
        return recorded
