"""Run an import: read NDJSON, validate row by row, write rejects, hand batches to the owning services.

The runner owns no data. It reads files (or standard input) in chunks of ``batch_size`` lines and,
per chunk, in this order:

1. validates every row (``records.parse_line``); a bad row goes to the reject file with its line
   number and reason and is never sent anywhere;
2. sends customers, orders, invoices and payments to the customer service's importer, which resolves
   their references and links customers by email;
3. asks the customer service for the ids of the customers that tickets and survey answers name
   (``resolve_customers``: the customer service's own ledger, never another service's database);
4. sends tickets to ticketing and survey answers to campaigns with those ids.

Every importer commits each record's events with its ledger row in one transaction (a batch in
one, or split by customer over a few), so after ``kill -9`` a re-run finds what committed
(unchanged) and imports the rest: the same result as one clean run.
References must point at records earlier in the input, or imported by an earlier run.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import orjson

from shared.importing.records import OWNERS, Numbered, Reject, parse_line
from shared.importing.results import BatchResult, CustomerResolver, ServiceImporter
from shared.settings import ServiceSettings

DEFAULT_BATCH = 5000
IMPORTING_SERVICES = ("customer", "ticketing", "campaigns")
IN_FLIGHT = 2
"""Chunks read, validated and handed to the services before the oldest must have been written."""


@dataclass
class ImportSummary:
    """A whole run: per owning service counts, rows read, rejects written."""

    read: int = 0
    by_service: dict[str, BatchResult] = field(default_factory=dict)
    rejected: int = 0

    @property
    def imported(self) -> int:
        return sum(r.created + r.updated + r.linked for r in self.by_service.values())

    @property
    def events(self) -> int:
        return sum(r.events for r in self.by_service.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "rejected": self.rejected,
            "events": self.events,
            "services": {
                name: {"created": r.created, "updated": r.updated, "linked": r.linked, "unchanged": r.unchanged,
                       "events": r.events}
                for name, r in self.by_service.items()
            },
        }


@dataclass(frozen=True, slots=True)
class Source:
    """A named stream of NDJSON lines (a file, standard input, an HTTP upload)."""

    name: str
    lines: Iterable[bytes]


def file_sources(paths: Sequence[str]) -> list[Source]:
    """Sources for ``c360 import FILE...``; ``-`` is standard input."""
    return [Source("-", sys.stdin.buffer) if p == "-" else Source(p, file_lines(Path(p))) for p in paths]


def file_lines(path: Path) -> Iterator[bytes]:
    """A file's lines, read as they are consumed (a file of any size is never held in memory)."""
    with path.open("rb") as handle:
        yield from handle


def count_lines(paths: Sequence[str]) -> int | None:
    """Lines in the files (for the progress bar's ETA); None when standard input is among them."""
    if "-" in paths:
        return None
    total = 0
    for p in paths:
        with open(p, "rb") as handle:
            while block := handle.read(1 << 20):
                total += block.count(b"\n")
    return total


def _chunks(sources: Sequence[Source], size: int) -> Iterator[list[tuple[str, int, bytes]]]:
    chunk: list[tuple[str, int, bytes]] = []
    for source in sources:
        for number, raw in enumerate(source.lines, start=1):
            chunk.append((source.name, number, raw))
            if len(chunk) >= size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


async def run_import(
    sources: Sequence[Source],
    importers: Mapping[str, ServiceImporter],
    resolver: CustomerResolver,
    *,
    rejects: IO[bytes] | None = None,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int, ImportSummary], Awaitable[None] | None] | None = None,
) -> ImportSummary:
    """Import every source; returns the summary. ``progress(rows_done, summary)`` after each chunk.

    Two chunks are in flight: while the services' databases write one, this process validates the
    next and decides on it (the profile: the client's CPU and PostgreSQL's writes took turns, each
    idle half the time). Each service still commits the chunks one after the other and in file
    order (a chunk's customers are committed before its tickets are resolved), so references, deltas
    and resumption behave as in a sequential run; rejects and progress are reported in chunk order.
    A ``pipelined`` importer (the customer service's) is handed the next chunk before the previous
    one is written: it decides it meanwhile and keeps the commit order itself.
    """
    summary = ImportSummary(by_service={name: BatchResult() for name in importers})
    previous: dict[str, asyncio.Future[None]] = {}
    in_flight: list[tuple[int, asyncio.Task[list[Reject]]]] = []

    async def report(rows: int, task: asyncio.Task[list[Reject]]) -> None:
        bad = await task
        summary.read += rows
        summary.rejected += len(bad)
        if rejects is not None and bad:
            bad.sort(key=lambda r: (r.file, r.line))
            rejects.write(b"".join(orjson.dumps(r.model_dump(exclude_none=True)) + b"\n" for r in bad))
            rejects.flush()
        if progress is not None:
            pending = progress(rows, summary)
            if inspect.isawaitable(pending):  # a plain callback may return anything (tqdm's update: a bool)
                await pending

    try:
        for chunk in _chunks(sources, batch_size):
            by_owner, bad = _validate(chunk, importers)
            mine = {name: asyncio.get_running_loop().create_future() for name in importers}
            task = asyncio.create_task(_import_chunk(by_owner, bad, importers, resolver, summary, previous, mine))
            previous = mine
            in_flight.append((len(chunk), task))
            if len(in_flight) >= IN_FLIGHT:
                await report(*in_flight.pop(0))
        while in_flight:
            await report(*in_flight.pop(0))
    finally:
        for _, task in in_flight:
            task.cancel()
        if in_flight:
            await asyncio.gather(*(t for _, t in in_flight), return_exceptions=True)
    return summary


def _validate(chunk: list[tuple[str, int, bytes]],
              importers: Mapping[str, ServiceImporter]) -> tuple[dict[str, list[Numbered]], list[Reject]]:
    by_owner: dict[str, list[Numbered]] = {name: [] for name in importers}
    bad: list[Reject] = []
    for name, number, raw in chunk:
        parsed = parse_line(raw, file=name, line=number)
        if parsed is None:
            continue
        if isinstance(parsed, Reject):
            bad.append(parsed)
            continue
        owner = OWNERS[parsed.record.kind]
        if owner not in by_owner:
            bad.append(parsed.reject(f"kind {parsed.record.kind!r} is not imported here (owned by {owner})"))
            continue
        by_owner[owner].append(parsed)
    return by_owner, bad


async def _import_chunk(by_owner: dict[str, list[Numbered]], bad: list[Reject],
                        importers: Mapping[str, ServiceImporter], resolver: CustomerResolver,
                        summary: ImportSummary, previous: Mapping[str, asyncio.Future[None]],
                        mine: Mapping[str, asyncio.Future[None]]) -> list[Reject]:
    """One chunk through every service, each after that service finished the previous chunk."""

    async def step(owner: str, customers: Mapping[str, UUID]) -> None:
        try:
            if owner in previous and not importers[owner].pipelined:
                await asyncio.shield(previous[owner])
            if by_owner.get(owner):
                bad.extend(await _run(importers[owner], by_owner[owner], customers, summary, owner))
        finally:
            if not mine[owner].done():
                mine[owner].set_result(None)

    try:
        if "customer" in importers:
            await step("customer", {})
        customers: dict[str, UUID] = {}
        referenced = sorted({n.record.customer_source_id for owner in ("ticketing", "campaigns")
                             for n in by_owner.get(owner, [])})
        if referenced:
            customers = await resolver.resolve_customers(referenced)
        await asyncio.gather(*(step(owner, customers) for owner in ("ticketing", "campaigns") if owner in importers))
    finally:
        for future in mine.values():
            if not future.done():
                future.set_result(None)
    return bad


async def _run(importer: ServiceImporter, records: list[Numbered], customers: Mapping[str, UUID],
               summary: ImportSummary, name: str) -> list[Reject]:
    result = await importer.import_batch(records, customers)
    rejected = result.rejects
    result.rejects = []
    summary.by_service[name].add(result)
    return rejected


async def open_local_importers(
    settings: Mapping[str, ServiceSettings] | None = None,
) -> dict[str, ServiceImporter]:
    """Each owning service's importer on its own database (``<SERVICE>_DATABASE_URL``), for the CLI.

    Loaded by name, like ``c360 api``: the shared library never imports a service statically.
    """
    opened: dict[str, ServiceImporter] = {}
    try:
        for name in IMPORTING_SERVICES:
            module = importlib.import_module(f"services.{name}.bootstrap")
            opened[name] = await module.open_importer((settings or {}).get(name))
    except BaseException:
        for importer in opened.values():
            await importer.close()
        raise
    return opened
