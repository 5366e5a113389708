"""``c360 import FILE... | -``: bulk import with a progress bar (records/s, ETA) and a reject file.

Exit status: 0 when every row was imported (or already was), 1 when some rows were rejected (see the
reject file), 2 when the input could not be read. Re-running the same files is safe: it creates
nothing for what was imported before, and finishes what a killed run left.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from pathlib import Path
from typing import IO

from shared.importing.runner import (
    DEFAULT_BATCH,
    ImportSummary,
    count_lines,
    file_sources,
    open_local_importers,
    run_import,
)
from shared.ops.gctuning import tune_for_long_running_process

IMPORT_GEN0_THRESHOLD = 1_000_000
"""Allocations between young collections in ``c360 import`` (every other process: 20,000)."""


def tune_gc_for_import() -> None:
    """The collector of a process that imports: frozen start-up, and young collections 50x rarer.

    An import of millions of rows is a long-running process too: at CPython's defaults its full
    collections walked every module and pydantic model again and again (~30% of the client's CPU),
    hence ``tune_for_long_running_process``. Past that, a young collection costs what the chunks
    in flight hold (records, aggregates, events, rows: ~10 ms each at 20,000, ~0.17 s at 300,000),
    not what it frees: an import makes almost no cyclic garbage (208 objects for 6,188 records, once
    append_many stopped handing asyncpg file objects), the rest goes with its last reference. At
    1,000,000 there is about one per 200,000 records; RSS of a 60,694-record import stayed 365 MB.
    """
    if tune_for_long_running_process():
        gc.set_threshold(IMPORT_GEN0_THRESHOLD, *gc.get_threshold()[1:])


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``c360 import`` on the CLI's sub-command parser."""
    p = sub.add_parser("import", help="bulk import an enterprise's history (NDJSON, docs/import.md)")
    p.add_argument("files", nargs="+", help="NDJSON files; '-' reads standard input")
    p.add_argument("--rejects", default="import-rejects.ndjson",
                   help="where refused rows go, with line number and reason (default import-rejects.ndjson)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help=f"rows per batch (default {DEFAULT_BATCH})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs and CI)")
    p.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> None:
    for path in args.files:
        if path != "-" and not Path(path).is_file():
            print(f"c360 import: {path}: no such file", file=sys.stderr)
            sys.exit(2)
    with open(args.rejects, "wb") as rejects:
        summary = asyncio.run(_import(args, rejects))
    print(_report(summary, args.rejects))
    sys.exit(1 if summary.rejected else 0)


async def _import(args: argparse.Namespace, rejects: IO[bytes]) -> ImportSummary:
    from tqdm import tqdm

    importers = await open_local_importers()
    tune_gc_for_import()
    bar = tqdm(total=count_lines(args.files), unit=" records", unit_scale=True, disable=args.no_progress,
               smoothing=0.1, dynamic_ncols=True, desc="import")
    customer = importers["customer"]

    def progress(done: int, summary: ImportSummary) -> None:
        bar.update(done)
        bar.set_postfix(events=summary.events, rejected=summary.rejected, refresh=False)

    try:
        return await run_import(file_sources(args.files), importers, customer,  # type: ignore[arg-type]
                                rejects=rejects, batch_size=args.batch_size, progress=progress)
    finally:
        bar.close()
        for importer in importers.values():
            await importer.close()


def _report(summary: ImportSummary, rejects: str) -> str:
    lines = [f"read {summary.read} rows: {summary.imported} imported, {summary.rejected} rejected"
             f"{f' (see {rejects})' if summary.rejected else ''}, {summary.events} events written"]
    for name, r in summary.by_service.items():
        lines.append(f"  {name}: {r.created} created, {r.updated} updated, {r.linked} linked, "
                     f"{r.unchanged} unchanged, {r.events} events")
    return "\n".join(lines)
