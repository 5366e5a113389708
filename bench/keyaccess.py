"""Key access (issue 18): what serving subscribers' data keys costs the producer, batch route against one per key.

A real ``c360 api customer`` process on a scratch database holding ``size`` customers' data keys.
``RemoteKeyProvider`` (as the analytics projector and the campaigns engine use it) asks for all of
them in chunks of ``CHUNK`` subjects, the size of a projector batch's customers, once through the
batch route and once key by key (the provider marked as facing a producer without the batch route).
The two alternate ``ROUNDS`` times with fresh caches. Reported: the API process's CPU per key served
(``/proc``), the subscriber's CPU per key, and the wall time per key, with the per-key route as the
comparison in the same run.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import asyncpg

from bench.processes import Processes
from bench.report import Figure, median
from bench.scale import cpu_seconds
from bench.setup import Scratch, Size
from shared.events.envelope import source_for
from shared.privacy.keyaccess import RemoteKeyProvider
from shared.settings import PlatformSettings
from shared.web.service_token import ServiceToken

SIZE = Size(default=5_000, smoke=50, full=50_000, counts="data keys asked for each round")
PORT = 18011
CHUNK = 500
"""Subjects asked at once: about the customers of one 2,000-event projector batch."""
ROUNDS = 3


async def _keys(dsn: str, size: int) -> list[str]:
    subjects = [str(uuid.uuid4()) for _ in range(size)]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table("personal_data_keys", columns=["subject", "key"],
                                         records=[(s, os.urandom(32)) for s in subjects])
    finally:
        await conn.close()
    return subjects


async def _round(url: str, subjects: list[str], *, batch: bool, api_pid: int) -> tuple[float, float, float]:
    """API CPU, subscriber CPU and wall seconds for asking every subject once, chunk by chunk."""
    source = source_for("customer")
    settings = PlatformSettings(environment="test")
    provider = RemoteKeyProvider(base_urls={source: url}, token=ServiceToken(settings, "service:bench"))
    if not batch:
        provider._single_only.add(source)  # what a producer without the batch route makes it do
    try:
        await provider.keys_for(source, {subjects[0]})  # the connection and the token, outside the figures
        api0, own0, wall0 = cpu_seconds([api_pid]), time.process_time(), time.perf_counter()
        found = 0
        for start in range(1, len(subjects), CHUNK):
            found += len(await provider.keys_for(source, set(subjects[start:start + CHUNK])))
        api, own, wall = cpu_seconds([api_pid]) - api0, time.process_time() - own0, time.perf_counter() - wall0
    finally:
        await provider.close()
    assert found == len(subjects) - 1, f"{found} keys of {len(subjects) - 1}"
    return api, own, wall


async def run(size: int) -> list[Figure]:
    async with Scratch("customer") as scratch:
        subjects = await _keys(scratch.dsn, size + 1)
        processes = Processes({"CUSTOMER_DATABASE_URL": scratch.dsn, "CUSTOMER_HTTP_PORT": str(PORT),
                               "KAFKA_TOPIC_PREFIX": scratch.prefix})
        url = f"http://127.0.0.1:{PORT}"
        processes.start("keyaccess-customer-api", "api", "customer")
        try:
            await asyncio.to_thread(processes.wait_ready, {"customer": url})
            api_pid = processes.running["keyaccess-customer-api"].pid
            runs: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
            for _ in range(ROUNDS):
                for batch in (True, False):
                    runs[batch].append(await _round(url, subjects, batch=batch, api_pid=api_pid))
        finally:
            processes.stop()
    asked = size

    def per_key(batch: bool, index: int) -> float:
        return median([r[index] for r in runs[batch]]) / asked * 1e6

    figures = []
    for index, what in ((0, "producer API CPU per key served"), (1, "subscriber CPU per key"),
                        (2, "wall time per key")):
        batched, single = per_key(True, index), per_key(False, index)
        figures.append(Figure("keyaccess", f"{what}, batch route ({CHUNK} subjects a request)", batched, "us",
                              op="<=", comparison=f"one request per key {single:,.0f} us; median of {ROUNDS}",
                              ratio=single / batched if batched else None))
    return figures
