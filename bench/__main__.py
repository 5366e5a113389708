"""Run the benchmarks: ``python -m bench`` (``make bench``); ``--help`` lists the options.

Every benchmark runs against the real local Kafka and PostgreSQL, measures its comparison (the
alternative a user would pick, or the raw limit of this hardware) in the same run, and the run
prints ONE table and saves it as JSON under ``bench/results/`` (git-ignored).

    python -m bench                          # every benchmark at its default size (< 10 min on 2 cores)
    python -m bench --only projection --size 100000
    python -m bench --smoke                  # tiny sizes: proves every benchmark runs (CI)
    python -m bench --full                   # the sizes the issue names (long)
    python -m bench --write-docs             # regenerate docs/performance.md from the last full run
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from bench import (
    calendars,
    endtoend,
    eventstore,
    importer,
    keyaccess,
    memory,
    oidcauth,
    onboarding,
    projection,
    readapi,
    rebuild,
    relay,
    scale,
    startup,
    webhooks,
)
from bench.report import DOCS_PAGE, RESULTS_DIR, Figure, Progress, docs_page, load, print_table, save
from bench.setup import Size


@dataclass(frozen=True)
class Benchmark:
    run: Callable[[int], Coroutine[Any, Any, list[Figure]]]
    size: Size


BENCHMARKS: dict[str, Benchmark] = {
    "eventstore": Benchmark(eventstore.run, eventstore.SIZE),
    "relay": Benchmark(relay.run, relay.SIZE),
    "projection": Benchmark(projection.run, projection.SIZE),
    "scale": Benchmark(scale.run, scale.SIZE),
    "rebuild": Benchmark(rebuild.run, rebuild.SIZE),
    "reads": Benchmark(readapi.run, readapi.SIZE),
    "endtoend": Benchmark(endtoend.run, endtoend.SIZE),
    "memory": Benchmark(memory.run, memory.SIZE),
    "startup": Benchmark(startup.run, startup.SIZE),
    "importer": Benchmark(importer.run, importer.SIZE),
    "keyaccess": Benchmark(keyaccess.run, keyaccess.SIZE),
    "onboarding": Benchmark(onboarding.run, onboarding.SIZE),
    "calendars": Benchmark(calendars.run, calendars.SIZE),
    "oidcauth": Benchmark(oidcauth.run, oidcauth.SIZE),
    "webhooks": Benchmark(webhooks.run, webhooks.SIZE),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="run only these (repeatable)")
    parser.add_argument("--size", type=int, help="workload size for the benchmarks run (see --list)")
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--smoke", action="store_true", help="tiny sizes; asserts only that every benchmark ran")
    sizes.add_argument("--full", action="store_true", help="the sizes the performance issue names")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and their sizes")
    parser.add_argument("--write-docs", action="store_true",
                        help="write docs/performance.md from the saved run (alone: from the last run; "
                             "with --only: after running those)")
    parser.add_argument("--label", default="latest", help="name of the JSON file under bench/results/")
    return parser.parse_args(argv)


def chosen_size(benchmark: Benchmark, args: argparse.Namespace) -> int:
    if args.size is not None:
        return int(args.size)
    if args.smoke:
        return benchmark.size.smoke
    return benchmark.size.full if args.full else benchmark.size.default


def smoke_check(figures: list[Figure], ran: list[str]) -> None:
    """The smoke run's only assertion: every benchmark ran and every figure is a number."""
    missing = sorted(set(ran) - {f.bench for f in figures})
    broken = [f"{f.bench}: {f.name}" for f in figures if not math.isfinite(f.value)]
    if missing or broken:
        raise SystemExit(f"smoke failed; no figures from {missing}; not a number: {broken}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.list:
        for name, benchmark in BENCHMARKS.items():
            s = benchmark.size
            print(f"{name:<11} default {s.default:>9,}  smoke {s.smoke:>7,}  full {s.full:>10,}  ({s.counts})")
        return
    if args.no_progress or args.smoke:
        Progress.enabled = False
    logging.basicConfig(level=logging.ERROR)
    names = args.only or ([] if args.write_docs else list(BENCHMARKS))
    figures: list[Figure] = []
    sizes: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for name in names:
        benchmark = BENCHMARKS[name]
        sizes[name] = chosen_size(benchmark, args)
        print(f"==> {name} (size {sizes[name]:,}: {benchmark.size.counts})", file=sys.stderr, flush=True)
        started = time.perf_counter()
        figures.extend(asyncio.run(benchmark.run(sizes[name])))
        seconds[name] = time.perf_counter() - started
    if names:
        print_table(figures)
        path = save(figures, sizes, seconds, label=args.label)
        print(f"\nsaved {path}")
        if args.smoke:
            smoke_check(figures, names)
    if args.write_docs:
        descriptions = {name: b.size.counts for name, b in BENCHMARKS.items()}
        DOCS_PAGE.write_text(docs_page(load(RESULTS_DIR / f"{args.label}.json"), descriptions))
        print(f"wrote {DOCS_PAGE}")


if __name__ == "__main__":
    main()
