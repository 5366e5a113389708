"""Onboarding end to end (issue 18): an enterprise's history imported, relayed and visible in every read model.

A ``demo.export`` file of ``--size`` customers (about six records and ten events each: 100,000
customers is the issue's 1,000,000 events) is imported by a real ``c360 import`` process while the
platform runs as real processes on ports 18101-18104 with fresh databases and a unique topic
prefix: the four APIs, an outbox relay per service and the workers that keep the read models (the
analytics 360 projector: views, timeline and KPIs; ticketing's customer replica; the campaigns
engine and its replica). The clock starts when the import starts and stops when

* the import has exited,
* every service's outbox is drained (everything published, analytics' derived signals included),
* every worker's consumer group has committed the end of every partition it reads (a projector
  commits an offset only after the events before it are applied in its database),

twice in a row, one second apart. Then the 360 of sampled customers is read through the analytics
API and compared with the file (order count, survey count): visible, not only consumed.

Reported: elapsed seconds, records/s and events/s end to end, when each part caught up (import,
relays, each worker), and the CPU seconds each process used (from ``/proc``, so which part costs
what), with PostgreSQL's CPU over the run (every server process: it includes other work on the
machine). The comparison, measured in the same run: the first ``HTTP_SAMPLE`` customers with their
orders through the customer HTTP API one command at a time (``bench.importer``), extrapolated to
every record of the file; that is a lower bound for the HTTP path (relaying and projecting it is not
counted against it).

Where the time goes (``--full``, quiet machine): 357 s end to end on 2026-12-06 (8a020ad), from 560 s
earlier that day. The import exited at 205 s and the relays and ticketing's replica kept up with it;
the analytics projector caught up at 355 s and the campaigns engine at 356 s. CPU: analytics
projector 158 s (150 us/event), campaigns engine 88 s, ticketing replica 33 s, import 82 s,
PostgreSQL 187 s, relays 31 s, APIs 6 s. What took the 200 s off: subscribers ask for data keys
in one request per batch (the customer API served them at 108 s of CPU before), the engine sends
imported history to its replica in pipelined rounds (engine 141 -> 92 s, PostgreSQL 264 -> 208 s),
and ticketing's replica passes over the customer events it does not read without decoding them
(65 -> 33 s). The projector is now what the run waits for: one process, 150 us of CPU an event.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import orjson

from bench.importer import AS_OF, HTTP_SAMPLE, _first_customers, _through_http
from bench.processes import C360, LOGS, Processes, start_platform
from bench.report import Figure, Progress
from bench.setup import REPO_ROOT, Scratch, Size
from demo.export import export
from shared.importing.ledger import entity_id

SIZE = Size(default=10_000, smoke=50, full=100_000, counts="customers imported (about 10 events each)")
PORTS = {"customer": 18101, "ticketing": 18102, "campaigns": 18103, "analytics": 18104}
GROUPS = {
    "analytics projector (360, timeline, KPIs)": ("analytics-360",
                                                  ("customer.events", "ticketing.events", "campaigns.events")),
    "ticketing customer replica": ("ticketing.customer-replica", ("customer.events",)),
    "campaigns engine (replica, triggers)": ("campaigns-engine", ("customer.events", "ticketing.events",
                                                                  "analytics.events", "campaigns.events")),
}
"""Read-model worker → (consumer group without the prefix, logical topics it reads)."""
PARTITIONS = 6
POLL = 1.0
SAMPLED = 25
"""Customers whose 360 is read back and compared with the file."""
FLOOR_SECONDS = 300.0


@dataclass
class Timeline:
    """Seconds from the import's start at which each part had caught up (None: not yet)."""

    started: float = field(default_factory=time.perf_counter)
    imported: float | None = None
    relayed: float | None = None
    groups: dict[str, float | None] = field(default_factory=dict)
    peak_outbox: int = 0
    peak_lag: dict[str, int] = field(default_factory=dict)

    def now(self) -> float:
        return time.perf_counter() - self.started


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a running process (``/proc/<pid>/stat``)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu() -> float:
    """CPU of every PostgreSQL server process, exited backends included (the postmaster's children)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


class LagMeter:
    """Messages each worker's group has not committed yet, over every partition of its topics."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        from kafka import KafkaAdminClient

        self.prefix = prefix
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="bench-onboarding")

    def lags(self) -> dict[str, int]:
        from kafka import TopicPartition
        from kafka.admin import OffsetSpec

        topics = sorted({f"{self.prefix}{t}" for _, names in GROUPS.values() for t in names})
        partitions = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        ends = self.admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions})
        committed = self.admin.list_group_offsets([f"{self.prefix}{g}" for g, _ in GROUPS.values()])
        lags: dict[str, int] = {}
        for worker, (group, names) in GROUPS.items():
            offsets = committed.get(f"{self.prefix}{group}", {})
            wanted = {f"{self.prefix}{t}" for t in names}
            lags[worker] = sum(max(0, ends[tp].offset - max(offsets[tp].offset if tp in offsets else 0, 0))
                               for tp in partitions if tp.topic in wanted)
        return lags

    def close(self) -> None:
        self.admin.close()


async def _backlog(pools: dict[str, asyncpg.Pool]) -> int:
    counts = await asyncio.gather(*(p.fetchval("select count(*) from outbox where published_at is null")
                                    for p in pools.values()))
    return sum(int(c) for c in counts)


async def _start_import(path: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = (LOGS / "onboarding-import.log").open("ab")
    return await asyncio.create_subprocess_exec(
        C360, "import", "--no-progress", "--rejects", str(path.with_suffix(".rejects")), str(path),
        cwd=REPO_ROOT, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT)


async def _follow(import_process: asyncio.subprocess.Process, processes: Processes, pools: dict[str, asyncpg.Pool],
                  meter: LagMeter, timeline: Timeline) -> None:
    """Poll until everything caught up twice in a row; fill ``timeline`` as each part does."""
    bar = Progress.bar(desc="onboarding: behind (outbox + lags)", unit="msg")
    clean = 0
    try:
        while clean < 2:
            processes.check_alive()
            if timeline.imported is None and import_process.returncode is not None:
                timeline.imported = timeline.now()
                if import_process.returncode not in (0, 1):
                    raise RuntimeError(f"c360 import exited with {import_process.returncode}; "
                                       f"see {LOGS / 'onboarding-import.log'}")
            lags = await asyncio.to_thread(meter.lags)
            backlog = await _backlog(pools)
            timeline.peak_outbox = max(timeline.peak_outbox, backlog)
            for worker, lag in lags.items():
                timeline.peak_lag[worker] = max(timeline.peak_lag.get(worker, 0), lag)
            done = timeline.imported is not None
            if done and backlog == 0 and timeline.relayed is None:
                timeline.relayed = timeline.now()
            for worker, lag in lags.items():
                if done and lag == 0 and backlog == 0:
                    timeline.groups.setdefault(worker, timeline.now())
                elif lag:
                    timeline.groups.pop(worker, None)
            clean = clean + 1 if done and backlog == 0 and not any(lags.values()) else 0
            bar.n = backlog + sum(lags.values())
            bar.refresh()
            if clean < 2:
                await asyncio.sleep(POLL)
    finally:
        bar.close()


async def _wait_process(process: asyncio.subprocess.Process, cpu: list[float]) -> None:
    """Waits for the import to exit, sampling its CPU until then (``/proc`` forgets an exited process)."""
    while process.returncode is None:
        sampled = _cpu_seconds(process.pid)
        if sampled is not None:
            cpu[0] = sampled
        try:
            await asyncio.wait_for(process.wait(), timeout=0.5)
        except TimeoutError:
            continue


def _generate(path: Path, size: int) -> None:
    with path.open("wb") as out:
        export(out, customers=size, seed=7, as_of=AS_OF, years=3)


def _sample(path: Path) -> list[bytes]:
    """The first ``HTTP_SAMPLE`` customers' lines, for the HTTP comparison."""
    with path.open("rb") as handle:
        head = [line for _, line in zip(range(HTTP_SAMPLE * 40), handle, strict=False)]
    return _first_customers(head, HTTP_SAMPLE)


def _expected(path: Path, sampled: set[str]) -> tuple[dict[str, Counter[str]], Counter[str]]:
    """Per sampled customer source id, the orders (not cancelled) and survey answers the file gives; kinds in the
    file."""
    per: dict[str, Counter[str]] = {s: Counter() for s in sampled}
    kinds: Counter[str] = Counter()
    with path.open("rb") as handle:
        for line in handle:
            record = orjson.loads(line)
            kinds[record["kind"]] += 1
            owner = record.get("customer_source_id")
            if owner in per and record.get("status") != "cancelled":  # the 360 counts orders not cancelled
                per[owner][record["kind"]] += 1
    return per, kinds


async def _check_views(url: str, token: str, expected: dict[str, Counter[str]]) -> list[str]:
    """Sampled customers whose 360 disagrees with the file (empty when every read model shows them)."""
    wrong: list[str] = []
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for source_id, counts in sorted(expected.items()):
            answer = await client.get(f"/v1/customers/{entity_id('customer', source_id)}/360")
            if answer.status_code != 200:
                wrong.append(f"{source_id}: HTTP {answer.status_code}")
                continue
            view = answer.json()
            orders, surveys = view["orders"]["count"], view["feedback"]["survey_count"]
            if orders != counts["order"] or surveys != counts["survey_answer"]:
                wrong.append(f"{source_id}: orders {orders}/{counts['order']}, surveys {surveys}/"
                             f"{counts['survey_answer']}")
    return wrong


async def _replicas(scratches: dict[str, Scratch]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in ("ticketing", "campaigns"):
        conn = await asyncpg.connect(scratches[name].dsn)
        try:
            counts[name] = int(await conn.fetchval("select count(*) from customer_replica"))
        finally:
            await conn.close()
    return counts


async def run(size: int) -> list[Figure]:
    workdir = Path(tempfile.mkdtemp(prefix="c360-onboarding-"))
    path = workdir / "history.ndjson"
    await asyncio.to_thread(_generate, path, size)
    rng = random.Random(11)
    sampled = {f"C{n:08d}" for n in rng.sample(range(1, size + 1), min(SAMPLED, size))}
    expected, kinds = await asyncio.to_thread(_expected, path, sampled)
    sample = await asyncio.to_thread(_sample, path)
    records = sum(kinds.values())
    prefix = f"bench{random.getrandbits(32):08x}."
    scratches = {name: Scratch(name) for name in PORTS}
    for scratch in scratches.values():
        await scratch.__aenter__()
    processes: Processes | None = None
    pools: dict[str, asyncpg.Pool] = {}
    meter: LagMeter | None = None
    importing: asyncio.subprocess.Process | None = None
    try:
        platform = start_platform(scratches, prefix, ports=PORTS, partitions=PARTITIONS, label="onboarding")
        processes, urls, env, token = platform.processes, platform.urls, {**platform.processes.env}, platform.token
        await asyncio.to_thread(processes.wait_ready, urls)
        pools = {name: await asyncpg.create_pool(s.dsn, min_size=1, max_size=1) for name, s in scratches.items()}
        meter = LagMeter(scratches["customer"].bootstrap, prefix)
        before = {name: _cpu_seconds(p.pid) or 0.0 for name, p in processes.running.items()}
        postgres_before = _postgres_cpu()
        timeline = Timeline()
        importing = await _start_import(path, env)
        import_cpu = [0.0]
        waiting = asyncio.create_task(_wait_process(importing, import_cpu))
        await _follow(importing, processes, pools, meter, timeline)
        await waiting
        elapsed = timeline.now()
        cpu = {name: (_cpu_seconds(p.pid) or 0.0) - before[name] for name, p in processes.running.items()}
        postgres = _postgres_cpu() - postgres_before
        events = 0
        for name in ("customer", "ticketing", "campaigns"):
            events += int(await pools[name].fetchval("select count(*) from events"))
        signals = int(await pools["analytics"].fetchval("select count(*) from events"))
        wrong = await _check_views(urls["analytics"], token, expected)
        replicas = await _replicas(scratches)
    finally:
        if importing is not None and importing.returncode is None:
            importing.kill()  # the run failed: the import is ours to end, by its pid
            await importing.wait()
        if meter is not None:
            meter.close()
        for pool in pools.values():
            await pool.close()
        if processes is not None:
            processes.stop()
        for scratch in scratches.values():
            await scratch.__aexit__(None, None, None)
        await asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True)
    http_done, http_seconds = await _through_http(sample)
    http_rate = http_done / http_seconds
    http_total = records / http_rate
    figures = [
        Figure("onboarding", f"{size:,} customers end to end ({records:,} records, {events:,} events): "
                             "imported, relayed, in every read model", elapsed, "s", target=FLOOR_SECONDS, op="<=",
               comparison=f"HTTP API one command at a time: {http_total:,.0f} s at {http_rate:,.0f} records/s "
                          f"({http_done} records measured), not counting relay and projection",
               ratio=http_total / elapsed),
        Figure("onboarding", "  records/s end to end", records / elapsed, "records/s",
               comparison=f"{events / elapsed:,.0f} events/s; {signals:,} analytics signals derived"),
        Figure("onboarding", "  import finished (c360 import exited)", timeline.imported or float("nan"), "s",
               comparison=f"{records / (timeline.imported or elapsed):,.0f} records/s; "
                          f"import CPU {import_cpu[0]:,.1f} s ({import_cpu[0] / records * 1e6:,.0f} µs/record)"),
        Figure("onboarding", "  every outbox drained", timeline.relayed or float("nan"), "s",
               comparison=f"peak backlog {timeline.peak_outbox:,} rows"),
    ]
    for worker, at in timeline.groups.items():
        figures.append(Figure("onboarding", f"  caught up: {worker}", at or float("nan"), "s",
                              comparison=f"peak lag {timeline.peak_lag.get(worker, 0):,} messages"))
    for name, seconds in sorted(cpu.items()):
        if seconds >= 0.5:
            short = name.removeprefix("onboarding-")
            figures.append(Figure("onboarding", f"  CPU {short}", seconds, "s",
                                  comparison=f"{seconds / max(events, 1) * 1e6:,.0f} µs/event"))
    figures.append(Figure("onboarding", "  CPU PostgreSQL (all server processes, other work included)", postgres, "s",
                          comparison=f"{postgres / max(events, 1) * 1e6:,.0f} µs/event"))
    figures.append(Figure("onboarding", f"  sampled 360s that disagree with the file (of {len(expected)})",
                          float(len(wrong)), "count", target=0, op="<=",
                          comparison=f"replicas: ticketing {replicas['ticketing']:,}, campaigns "
                                     f"{replicas['campaigns']:,} customers" + (f"; {wrong[0]}" if wrong else "")))
    return figures
