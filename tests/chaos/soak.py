"""Soak run: the whole platform under a steady mixed load, reporting memory, consumer lag and errors.

    python -m tests.chaos.soak --minutes 30 [--rate 2] [--concurrency 4]

Starts every API, relay and worker as real processes on fresh databases and a unique topic prefix
(real Kafka and PostgreSQL from the environment or the local defaults), drives customer stories
(register, order → pay, complaint, NPS answer, two refused commands) at ``--rate`` stories per
second, and prints one line per interval: stories done, HTTP error rate, resident memory of each
process kind, total consumer lag and outbox backlog. At the end the read models are compared with
the ground truth (as the chaos tests do) and a summary says whether memory stayed flat, lag stayed
bounded and the error rate was zero. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from dataclasses import dataclass

from shared.testing.infra import discover
from shared.testing.platform import RunningPlatform, run_blocking, start_platform, stop_platform
from shared.testing.plugin import DatabaseFactory
from tests.chaos import groups
from tests.chaos.workload import Client, GroundTruth, Refused, customer_story, verify_all


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its children (uvicorn/faust may fork) in MiB."""
    total = 0
    for candidate in [pid, *_children(pid)]:
        try:
            with open(f"/proc/{candidate}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(c) for c in children.read().split()]
    except OSError:
        return []


@dataclass
class Sample:
    at: float
    stories: int
    calls: int
    errors: int
    memory: dict[str, float]
    lag: int
    backlog: int


def sample(platform: RunningPlatform, truth: GroundTruth, started: float, failures: int) -> Sample:
    bootstrap = platform.settings.kafka_bootstrap_servers
    lag = sum(max(0, groups.lag(bootstrap, g)) for g in groups.platform_groups(bootstrap, platform.prefix))
    backlog = 0
    for dsn in platform.dsns.values():
        backlog += run_blocking(_backlog(dsn))
    memory = {name: rss_mib(process.pid) for name, process in platform.processes.items() if process.poll() is None}
    return Sample(time.monotonic() - started, len(truth.customers), truth.calls,
                  truth.server_errors + failures, memory, lag, backlog)


async def _backlog(dsn: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("select count(*) from outbox where published_at is null"))
    finally:
        await conn.close()


async def drive(platform: RunningPlatform, truth: GroundTruth, *, rate: float, concurrency: int,
                until: float, failures: list[str]) -> None:
    """Start ``rate`` stories per second (at most ``concurrency`` at a time) until the deadline."""
    client = Client(platform, truth, platform.admin_token)
    gate = asyncio.Semaphore(concurrency)
    rng = random.Random(1)
    running: set[asyncio.Task[None]] = set()

    async def one() -> None:
        async with gate:
            try:
                await customer_story(client, rng)
            except Refused as exc:
                failures.append(str(exc))

    try:
        while time.monotonic() < until:
            task = asyncio.create_task(one())
            running.add(task)
            task.add_done_callback(running.discard)
            await asyncio.sleep(1.0 / rate)
        await asyncio.gather(*running)
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=2.0, help="customer stories started per second")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between report lines")
    args = parser.parse_args(argv)

    os.environ.setdefault("ENVIRONMENT", "test")
    infra = discover()
    factory = DatabaseFactory(infra.postgres_admin_dsn)
    platform = start_platform(database_factory=factory, kafka_bootstrap=infra.kafka_bootstrap, name="soak")
    truth = GroundTruth()
    failures: list[str] = []
    samples: list[Sample] = []
    try:
        started = time.monotonic()
        until = started + args.minutes * 60
        import threading

        driver = threading.Thread(target=lambda: asyncio.run(drive(
            platform, truth, rate=args.rate, concurrency=args.concurrency, until=until, failures=failures)))
        driver.start()
        print(f"soak: {args.minutes} min at {args.rate} stories/s; logs in {platform.log_dir}", flush=True)
        print(f"{'t[s]':>6} {'stories':>7} {'calls':>7} {'errors':>6} {'lag':>6} {'outbox':>6} "
              f"{'api MiB':>8} {'relay MiB':>9} {'worker MiB':>10}", flush=True)
        while driver.is_alive():
            driver.join(args.interval)
            s = sample(platform, truth, started, len(failures))
            samples.append(s)
            kinds = {"api": 0.0, "relay": 0.0, "worker": 0.0}
            for name, mib in s.memory.items():
                kinds["api" if name.endswith("-api") else "relay" if name.endswith("-relay") else "worker"] += mib
            print(f"{s.at:6.0f} {s.stories:7d} {s.calls:7d} {s.errors:6d} {s.lag:6d} {s.backlog:6d} "
                  f"{kinds['api']:8.0f} {kinds['relay']:9.0f} {kinds['worker']:10.0f}", flush=True)
        converged = run_blocking(verify_all(platform, truth, recovery_seconds=120))
        first, last = samples[min(1, len(samples) - 1)], samples[-1]
        growth = {n: last.memory.get(n, 0) - first.memory.get(n, 0) for n in last.memory}
        worst = max(growth.items(), key=lambda kv: kv[1])
        print(f"\nsummary: {last.stories} stories, {last.calls} calls, error rate "
              f"{last.errors / max(1, last.calls):.4%}, max lag {max(x.lag for x in samples)}, "
              f"max outbox backlog {max(x.backlog for x in samples)}; memory growth after warm-up: worst "
              f"{worst[0]} +{worst[1]:.1f} MiB; read models equal to the ground truth {converged:.1f}s after the load")
        return 0 if last.errors == 0 and not failures else 1
    finally:
        stop_platform(platform, factory)


if __name__ == "__main__":
    sys.exit(main())
