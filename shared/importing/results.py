"""What an import batch did, as every owning service reports it to the runner."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from shared.importing.records import Numbered, Reject


@dataclass
class BatchResult:
    """Counts of one batch (or a whole run) and the rows refused, with their reasons."""

    created: int = 0
    updated: int = 0
    linked: int = 0
    unchanged: int = 0
    events: int = 0
    rejects: list[Reject] = field(default_factory=list)

    def add(self, other: BatchResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.linked += other.linked
        self.unchanged += other.unchanged
        self.events += other.events
        self.rejects.extend(other.rejects)


class ServiceImporter(Protocol):
    """One owning service's import use case, bound to its own database (``open_importer``)."""

    kinds: tuple[str, ...]
    pipelined: bool
    """True when calls may overlap: the importer itself writes them in call order, each on what the
    ones before committed (the runner then starts a batch before the previous one is written)."""

    async def import_batch(self, records: Sequence[Numbered], customers: Mapping[str, UUID]) -> BatchResult:
        """Import records of this service's kinds, all or nothing per record; customers already resolved."""
        ...

    async def close(self) -> None: ...


class CustomerResolver(Protocol):
    async def resolve_customers(self, source_ids: Sequence[str]) -> dict[str, UUID]:
        """Customer source id → customer id, for those imported or linked before."""
        ...
