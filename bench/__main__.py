"""Run the benchmarks: ``python -m bench [--only NAME ...] [--size N]`` (``make bench``).

Each benchmark runs against the real local Kafka and PostgreSQL, prints one table and saves the
figures as JSON under ``bench/results/`` (git-ignored). ``--size`` scales every workload
(default 2000; CI runs a small smoke with ``--size 200``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from bench import eventstore, projection, relay
from bench.report import print_table, save

BENCHMARKS = {"eventstore": eventstore.run, "relay": relay.run, "projection": projection.run}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="run only these (repeatable)")
    parser.add_argument("--size", type=int, default=2000, help="workload scale (default 2000)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    figures = []
    for name in args.only or list(BENCHMARKS):
        figures.extend(asyncio.run(BENCHMARKS[name](args.size)))
    print_table(figures)
    print(f"\nsaved {save(figures)}")


if __name__ == "__main__":
    main()
