"""The projector's per-worker cache of customer states, guarded by the stored row's revision.

Why: loading each touched customer's whole JSONB state (about 5 KB) and writing it back whole on
every batch cost more than the fold itself (issue 17). A worker mostly sees the same customers
batch after batch (its partitions), so it keeps the states it wrote, and the serialised bytes of
each top-level key as they are stored.

Why it is safe: a cached state is only used after ``readmodel.lock_views`` has locked the row and
found the revision (``xmin``) the cache recorded when this worker wrote it. Whoever else writes the
row (another worker after a rebalance, the sweep, a rebuild's swap) changes that revision, and an
aborted transaction's id never comes back, so a mismatch, a rollback or a crash all fall back to a
load. The projector folds cached states in place, so it drops the cache when a batch fails
(``clear``), and the consumer kit calls ``consumers/projector.py``'s ``on_partitions_revoked`` on every
revocation (``shared.consuming.streams`` connects it to Faust's signal once the batch in flight is done;
``tests/shared/test_batch_transport.py`` proves the call against the real broker) to free the memory
of customers the worker may no longer own; correctness never depends on that call. The cache is
bounded by entries and by estimated bytes, so a worker's memory stays flat either way.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from services.analytics.domain.model import State

DEFAULT_CAPACITY = 20_000
"""Most customers kept per worker (least recently written dropped first)."""
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
"""Estimated memory of the cached entries per worker (least recently written dropped first).

Why a byte budget and not only a count: an entry's size follows its customer's history, and a count
big enough to matter (20,000) let the cache grow for the whole life of a process; the memory
benchmark's resident set rose 35% after warm-up (``bench memory``), all of it this cache filling.
32 MiB keeps about 2,200 bench-sized customers (the distinct customers of about two 2,000-event
batches), more than the projection benchmark's 1,666, so its hit rate is unchanged."""
MEMORY_PER_JSON_BYTE = 3.2
"""In-memory size of an entry (the state's dicts and strings plus its stored parts) per byte of its
JSON, measured with ``tracemalloc`` on the benchmark's states: 14.6 KiB per 4.5 KiB of JSON."""


@dataclass(slots=True)
class CachedState:
    revision: str
    state: State
    parts: dict[str, bytes]
    """Each top-level key's JSON as stored at ``revision``: what a delta write compares against."""
    size: int = 0
    """Estimated bytes in memory (set by ``StateCache.put`` from the parts)."""


SCALARS = ""
"""The part holding every top-level key whose value is not a container (counters, times, status)."""


def serialise(state: State) -> dict[str, bytes]:
    """The state's JSON in parts, each a run of ``"key":value`` members (orjson, like the jsonb codec).

    One part per container key (orders, tickets, traits…) and one for all the scalar keys together:
    a batch usually changes a few containers and some counters, and dumping 70 keys one by one
    cost more than the write it saved (profiled).
    """
    parts: dict[str, bytes] = {}
    scalars: dict[str, object] = {}
    for key, value in state.items():
        if type(value) is dict or type(value) is list:
            parts[key] = orjson.dumps({key: value}, default=str)[1:-1]
        else:
            scalars[key] = value
    parts[SCALARS] = orjson.dumps(scalars, default=str)[1:-1]
    return parts


def _object(members: list[bytes]) -> str:
    return (b"{" + b",".join(m for m in members if m) + b"}").decode()


def whole_json(parts: dict[str, bytes]) -> str:
    """The whole state's JSON text from its parts."""
    return _object(list(parts.values()))


def delta_json(parts: dict[str, bytes], stored: dict[str, bytes]) -> str | None:
    """The parts that differ from ``stored``, as one object (None when nothing changed)."""
    changed = [value for key, value in parts.items() if stored.get(key) != value]
    return _object(changed) if changed else None


class StateCache:
    """Customer id → the state this worker last wrote, its revision and its stored parts (LRU).

    Bounded by ``capacity`` entries and ``max_bytes`` of estimated memory, whichever is reached first,
    so a worker's memory stays flat however many customers its partitions hold.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, CachedState] = OrderedDict()
        self.bytes = 0
        """Estimated memory of the entries held now."""
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def revisions(self, customer_ids: Iterable[str]) -> dict[str, str]:
        """The cached revision of each of these customers the cache holds."""
        entries = self._entries
        return {c: entries[c].revision for c in customer_ids if c in entries}

    def get(self, customer_id: str) -> CachedState | None:
        return self._entries.get(customer_id)

    def put(self, customer_id: str, entry: CachedState) -> None:
        """Keep ``entry`` as the most recent one, dropping the least recent beyond either bound."""
        entries = self._entries
        entry.size = int(sum(map(len, entry.parts.values())) * MEMORY_PER_JSON_BYTE)
        replaced = entries.pop(customer_id, None)
        if replaced is not None:
            self.bytes -= replaced.size
        entries[customer_id] = entry
        self.bytes += entry.size
        while entries and (len(entries) > self.capacity or self.bytes > self.max_bytes):
            _, dropped = entries.popitem(last=False)
            self.bytes -= dropped.size
            self.evictions += 1

    def drop(self, customer_ids: Iterable[str]) -> None:
        for customer_id in customer_ids:
            dropped = self._entries.pop(customer_id, None)
            if dropped is not None:
                self.bytes -= dropped.size

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0
