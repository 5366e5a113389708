"""The import ledger every owning service keeps (table ``import_ledger``, from ``MIGRATIONS``).

One row per imported record, keyed by ``(kind, source_id)``, written in the same transaction as the
record's events: that is what makes a re-run create nothing and a ``kill -9`` resumable (a record is
either fully in the ledger with its events, or absent with none of them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, Protocol
from uuid import UUID

import asyncpg

MIGRATIONS: Final = ("importing", Path(__file__).parent / "sql")
"""The migration set of the import's tables (``import_ledger``, ``import_jobs``): each importing
service lists it in its ``ServiceDefinition.shared_migrations``."""

IMPORT_NAMESPACE = UUID("6f3c1d2e-8a41-5b7e-9c0d-2f1e4a6b8c90")
"""Namespace of the deterministic ids given to imported entities (``entity_id``)."""

Outcome = Literal["created", "linked"]


_NAMESPACE_SHA1 = hashlib.sha1(IMPORT_NAMESPACE.bytes, usedforsecurity=False)
_VERSION_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_5 = (0x5000 << 64) | (0x8000 << 48)


def entity_id(kind: str, source_id: str) -> UUID:
    """The id an imported record's entity gets: the same on every run, in every process.

    ``uuid5(IMPORT_NAMESPACE, f"{kind}:{source_id}")`` exactly, with the namespace hashed once: one
    call per record and reference (2.1 -> 1.3 us).
    """
    digest = _NAMESPACE_SHA1.copy()
    digest.update(f"{kind}:{source_id}".encode())
    return UUID(int=(int.from_bytes(digest.digest()[:16], "big") & _VERSION_CLEAR) | _VERSION_5)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    kind: str
    source_id: str
    entity_id: UUID
    customer_id: UUID | None
    fingerprint: str
    outcome: Outcome


Key = tuple[str, str]
"""A record's place in the ledger: ``(kind, source_id)``."""


class Keyed(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def source_id(self) -> str: ...


def key_of(record: Keyed) -> Key:
    return (record.kind, record.source_id)


def entry_of(record: Keyed, *ledgers: Mapping[Key, LedgerEntry]) -> LedgerEntry | None:
    """The record's ledger entry, from the first of ``ledgers`` that has one: an importer passes this
    batch's own entries (an earlier line of the same record) before those stored by earlier runs."""
    key = key_of(record)
    return next((found for entries in ledgers if (found := entries.get(key)) is not None), None)


async def lookup(conn: asyncpg.Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], LedgerEntry]:
    """The ledger rows of ``(kind, source_id)`` pairs that were imported before."""
    pairs = sorted(set(keys))
    if not pairs:
        return {}
    rows = await conn.fetch(
        """select l.kind, l.source_id, l.entity_id, l.customer_id, l.fingerprint, l.outcome
           from import_ledger l join unnest($1::text[], $2::text[]) as k(kind, source_id)
             on l.kind = k.kind and l.source_id = k.source_id""",
        [k for k, _ in pairs],
        [s for _, s in pairs],
    )
    return {
        (r["kind"], r["source_id"]): LedgerEntry(r["kind"], r["source_id"], r["entity_id"], r["customer_id"],
                                                 r["fingerprint"], r["outcome"])
        for r in rows
    }


async def record(conn: asyncpg.Connection, entries: Sequence[LedgerEntry]) -> None:
    """Insert or update ledger rows (in the transaction of the records' events)."""
    if not entries:
        return
    await conn.execute(
        """insert into import_ledger (kind, source_id, entity_id, customer_id, fingerprint, outcome)
           select * from unnest($1::text[], $2::text[], $3::uuid[], $4::uuid[], $5::text[], $6::text[])
           on conflict (kind, source_id) do update set fingerprint = excluded.fingerprint,
               updated_at = clock_timestamp()""",
        [e.kind for e in entries],
        [e.source_id for e in entries],
        [e.entity_id for e in entries],
        [e.customer_id for e in entries],
        [e.fingerprint for e in entries],
        [e.outcome for e in entries],
    )
