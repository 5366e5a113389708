"""Records of personal-data reads, committed in groups: many requests, one statement and one commit.

Why: every ``GET /360``, timeline, profile or notes read appends a ``PersonalDataViewed`` before its
answer leaves (``shared.web.audit``). One append per request meant a pool checkout, a round trip and
a commit per read: at 500 reads/s, the largest part of a read's database work and a fifth of its CPU
in the API process (issue 17's profile). The guarantee stays: a request waits until the commit that
holds its record is done, and if that commit fails, every request in the group gets the error (a
503), none is answered without its record.

Group commit, as databases do it for their own log: while one group's statement runs, the requests
that arrive wait together and go in the next one, so under light load a record is committed alone at
once (no added wait) and under heavy load the groups grow with the load.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from shared.contracts.privacy import PersonalDataViewed, PersonalDataViewName
from shared.ids import uuid7
from shared.ops.logging import actor_var
from shared.store.eventstore import EventMetadata, EventStore, StreamEvents

MAX_GROUP: Final = 500
"""Records per statement at most (a bounded statement under a burst; the rest go in the next)."""


@dataclass(slots=True)
class _Waiting:
    stream: StreamEvents
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class ViewLog:
    """Appends ``PersonalDataViewed`` records to a service's event store, without a topic, in groups."""

    def __init__(self, pool: Any, store: EventStore, *, max_group: int = MAX_GROUP) -> None:
        self.pool = pool
        self.store = store.unpublished()
        self.max_group = max_group
        self.groups = 0
        """Statements written so far (the benchmark's and the tests' view of the grouping)."""
        self._waiting: list[_Waiting] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, *, customer_id: UUID | str, view: PersonalDataViewName, now: datetime) -> None:
        """Return once the caller's read of ``view`` is committed; raise what the commit raised."""
        subject = str(customer_id)
        event = PersonalDataViewed(customer_id=UUID(subject), view=view, viewed_by=actor_var.get() or "unknown",
                                   viewed_at=now)
        waiting = _Waiting(StreamEvents(
            stream_id=f"view-{uuid7()}", stream_type="personal_data_view", subject=subject, expected_version=0,
            events=[event], metadata=EventMetadata.from_context(), occurred_at=now,
        ))
        self._waiting.append(waiting)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_groups())
        # Shielded: a client that hangs up must not cancel the commit the others in its group wait for.
        await asyncio.shield(waiting.done)

    async def _write_groups(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting[: self.max_group], self._waiting[self.max_group:]
            try:
                async with self.pool.acquire() as conn:
                    await self.store.append_streams(conn, [w.stream for w in group])
            except asyncio.CancelledError:  # shutting down: nobody is answered without a record
                for w in (*group, *self._waiting):
                    w.done.cancel()
                self._waiting = []
                raise
            except Exception as exc:  # handed to every request of the group, each answers a 503
                for w in group:
                    _fail(w.done, exc)
                continue
            self.groups += 1
            for w in group:
                if not w.done.done():
                    w.done.set_result(None)


def _fail(done: asyncio.Future[None], exc: Exception) -> None:
    if not done.done():
        done.set_exception(exc)
        done.exception()  # retrieved: a request that hung up meanwhile leaves no "never retrieved" warning
