"""Hand a catch-up's records over in event-time order across partitions and topics.

A worker that reads several topics from behind (a restart after downtime, a new projection, an
onboarding import) gets whole runs of one partition at a time: the fetcher drains one partition's
buffered records before the next one's. A projection that folds each customer's facts in time order
then sees a customer's 2026 orders before their 2019 tickets and must refold the customer from its
whole history when the tickets arrive (in the 360 benchmark's catch-up, 80% of fact applications were
refolds). Kafka Streams meets the same problem with timestamp synchronisation; this is ours.

``TimeAligner`` holds fetched records per partition and releases only those no partition can still
undercut: a partition that is behind (more records on the broker than fetched) will go on from the
time of the last record fetched from it, assuming each partition is roughly in time order, which
an outbox relay's topics are. Records up to the earliest such time go; the rest wait for the next
fetch. It is an optimisation, never a condition of correctness: consumers still handle a late record
(a projection refolds), so the aligner lets everything go when it would otherwise wait for nothing
(a fetch brought no records), when it holds more than ``limit`` records, and when no partition is
behind, which is every live worker's normal state: live records pass straight through.

Pure: it knows nothing of Faust or Kafka clients; the batch transport feeds it and says which
partitions are behind. Times are the CloudEvents ``ce_time`` header as bytes: the platform writes
it in one fixed-width UTC format (``shared.events.envelope.format_time``), so bytes compare as
moments do. A record without one is never held back by its own time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Hashable, Iterable, Sequence
from typing import Generic, TypeVar

P = TypeVar("P", bound=Hashable)
"""A partition (Faust's ``TP``)."""
R = TypeVar("R")
"""A record as the client library returned it."""

TIME_HEADER = "ce_time"

_ANY_TIME = b"\xff"
"""Later than any ``ce_time``: what no partition behind constrains."""


def event_time(headers: Sequence[tuple[str, bytes]] | None) -> bytes | None:
    """The record's ``ce_time`` header, or ``None`` (then it is not held back by its own time)."""
    for key, value in headers or ():
        if key == TIME_HEADER:
            return value
    return None


class TimeAligner(Generic[P, R]):
    """Fetched records per partition, released in event-time order across partitions."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: dict[P, deque[tuple[bytes | None, R]]] = {}
        self._reached: dict[P, bytes] = {}
        self._count = 0

    @property
    def held(self) -> int:
        """Records fetched and not yet released."""
        return self._count

    def laggards(self, behind: Collection[P]) -> set[P]:
        """The partitions of ``behind`` to read next: those never fetched, else those whose reading is
        the furthest back in time. Reading them moves the frontier; reading any other one would only
        add to what waits."""
        unfetched = {partition for partition in behind if partition not in self._held}
        if unfetched:
            return unfetched
        reached = {partition: self._reached[partition] for partition in behind if partition in self._reached}
        earliest = min(reached.values(), default=None)
        return {partition for partition, moment in reached.items() if moment == earliest}

    def add(self, partition: P, records: Iterable[tuple[bytes | None, R]]) -> None:
        """Records of one partition, in offset order, as fetched."""
        queue = self._held.setdefault(partition, deque())
        before = len(queue)
        queue.extend(records)
        self._count += len(queue) - before
        for moment, _ in reversed(queue):
            if moment is not None:
                self._reached[partition] = max(moment, self._reached.get(partition, moment))
                break

    def release(self, behind: Collection[P], *, force: bool = False, at_least: int = 0) -> dict[P, list[R]]:
        """Every record no partition in ``behind`` can undercut, per partition in offset order.

        ``behind``: the partitions with records on the broker that were not fetched yet; one never
        fetched from since it was last dropped holds everything back (its next record may be the
        oldest of all). ``force``, more than ``limit`` held or nothing behind: everything goes.
        ``at_least``: fewer records than that ready wait for more (a batch has a cost of its own).
        """
        if force or not behind or self._count > self.limit:
            return self._release_all()
        frontier = self._frontier(behind)
        if frontier is None:
            return {}
        ready = {partition: self._ready(queue, frontier) for partition, queue in self._held.items()}
        if sum(ready.values()) < max(1, at_least):
            return {}
        released: dict[P, list[R]] = {}
        for partition, count in ready.items():
            if count:
                queue = self._held[partition]
                released[partition] = [queue.popleft()[1] for _ in range(count)]
                self._count -= count
        return released

    @staticmethod
    def _ready(queue: deque[tuple[bytes | None, R]], frontier: bytes) -> int:
        count = 0
        for moment, _ in queue:
            if moment is not None and moment > frontier:
                break
            count += 1
        return count

    def _frontier(self, behind: Collection[P]) -> bytes | None:
        """The earliest time a partition in ``behind`` has reached; ``None``: one was never fetched."""
        frontier = _ANY_TIME
        for partition in behind:
            reached = self._reached.get(partition)
            if reached is None:
                if partition in self._held:
                    continue  # fetched, but nothing it holds has a time: it cannot hold others back
                return None
            frontier = min(frontier, reached)
        return frontier

    def drop(self, partitions: Iterable[P]) -> None:
        """Forget partitions (revoked, or sought back): their records will be fetched again."""
        for partition in partitions:
            queue = self._held.pop(partition, None)
            if queue is not None:
                self._count -= len(queue)
            self._reached.pop(partition, None)

    def keep_only(self, partitions: Collection[P]) -> None:
        """Drop every partition not in ``partitions`` (the current assignment)."""
        self.drop([p for p in {*self._held, *self._reached} if p not in partitions])

    def clear(self) -> None:
        """Forget everything (a rebalance: the new assignment seeks to committed offsets)."""
        self._held.clear()
        self._reached.clear()
        self._count = 0

    def _release_all(self) -> dict[P, list[R]]:
        released = {partition: [record for _, record in queue] for partition, queue in self._held.items() if queue}
        for queue in self._held.values():
            queue.clear()
        self._count = 0
        return released

    def __repr__(self) -> str:
        return f"TimeAligner(held={self._count}, partitions={len(self._held)}, limit={self.limit})"
