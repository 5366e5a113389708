"""The broker goes away for 30 s, the database restarts: the platform holds, answers honestly, recovers.

The broker and the server on the default ports are shared with everything else on this machine, so
this module starts its own: a second KRaft broker and a second PostgreSQL cluster on spare ports
(through ``deploy/local/kafka.sh`` and ``postgres.sh``, as an operator would), runs the whole
platform on them, and stops and starts only those.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from shared.testing.platform import (
    PrivateKafka,
    PrivatePostgres,
    RunningPlatform,
    run_blocking,
    start_platform,
    stop_platform,
)
from shared.testing.plugin import DatabaseFactory
from shared.testing.waiting import eventually_sync
from tests.chaos.workload import GroundTruth, Workload, read_model_mismatches, verify_all

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]

KAFKA_OUTAGE_SECONDS = 30.0
KAFKA_RECOVERY_SECONDS = 120.0
"""Stated bound: from the broker answering again to every read model equal to the ground truth."""
POSTGRES_RECOVERY_SECONDS = 90.0
PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def private_infra() -> Iterator[tuple[PrivateKafka, PrivatePostgres]]:
    kafka, postgres = PrivateKafka(), PrivatePostgres()
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:  # both start at once: half the wait
            for started in [pool.submit(kafka.start), pool.submit(postgres.start)]:
                started.result()
        yield kafka, postgres
    finally:
        kafka.destroy()
        postgres.destroy()


@pytest.fixture(scope="module")
def private_kafka(private_infra: tuple[PrivateKafka, PrivatePostgres]) -> PrivateKafka:
    return private_infra[0]


@pytest.fixture(scope="module")
def private_postgres(private_infra: tuple[PrivateKafka, PrivatePostgres]) -> PrivatePostgres:
    return private_infra[1]


@pytest.fixture(scope="module")
def platform(private_kafka: PrivateKafka, private_postgres: PrivatePostgres) -> Iterator[RunningPlatform]:
    factory = DatabaseFactory(private_postgres.admin_dsn)
    running = start_platform(database_factory=factory, kafka_bootstrap=private_kafka.bootstrap, name="outage")
    try:
        yield running
    finally:
        stop_platform(running, factory)
        run_blocking(factory.drop(list(factory._templates)))


@pytest.fixture(scope="module")
def truth() -> GroundTruth:
    return GroundTruth()


def _steady(platform: RunningPlatform, truth: GroundTruth) -> None:
    """Wait for the steady state a fault should hit: every worker up and applying whole stories.

    Without it the fault lands on workers still starting, which tests start-up, not recovery (and
    finds the start-up bugs reported in the change requests instead).
    """
    before = sum(c.nps is not None for c in truth.snapshot())
    eventually_sync(lambda: (sum(c.nps is not None for c in truth.snapshot()),
                             read_model_mismatches(platform, truth, latest=50, kpis=False)),
                    until=lambda done: done[0] >= before + 2 and not done[1], timeout=120, interval=1.0,
                    message="the workers to apply whole stories before the fault")


def _readiness(platform: RunningPlatform) -> dict[str, tuple[int, dict[str, str]]]:
    answers = {}
    for service in platform.urls:
        answer = httpx.get(platform.url(service, "/health/ready"), timeout=10.0)
        answers[service] = (answer.status_code, answer.json().get("checks", {}))
    return answers


def test_kafka_down_for_30_seconds_commands_still_accepted_then_everything_drains(
    platform: RunningPlatform, private_kafka: PrivateKafka, truth: GroundTruth
) -> None:
    load = Workload(platform, concurrency=4, truth=truth).start()
    try:
        load.wait_for_customers(4)
        _steady(platform, truth)
        private_kafka.stop()
        stopped = time.monotonic()
        accepted_before = len(truth.customers)
        readiness = eventually_sync(
            lambda: _readiness(platform),
            until=lambda r: all(status == 503 and checks.get("kafka") != "ok" for status, checks in r.values()),
            timeout=20, interval=0.5, message="every API to report Kafka down")
        assert all(checks.get("postgres") == "ok" for _, checks in readiness.values())
        time.sleep(max(0.0, KAFKA_OUTAGE_SECONDS - (time.monotonic() - stopped)))  # the outage itself
        accepted_during = len(truth.customers) - accepted_before
        backlog = sum(run_blocking(_unpublished(dsn)) for dsn in platform.dsns.values())
        private_kafka.start()
        restarted = time.monotonic()
        broker_back_after = restarted - stopped
        eventually_sync(lambda: _readiness(platform), until=lambda r: all(s == 200 for s, _ in r.values()),
                        timeout=60, interval=0.5, message="every API to be ready again")
        load.wait_for_customers(len(truth.customers) + 2)
    finally:
        load.stop()
    crashed = [name for name in platform.processes if not platform.alive(name)]
    assert not crashed, (f"{crashed} exited while the broker was away for {broker_back_after:.0f}s "
                         "(a relay must survive kafka-python's KafkaTimeoutError: shared/outbox/relay.py)")
    assert accepted_during >= 3, "the APIs must keep accepting commands while the broker is down"
    assert backlog > 0, "the outbox must have held the events the broker could not take"
    converged = run_blocking(verify_all(platform, truth, recovery_seconds=KAFKA_RECOVERY_SECONDS))
    print(f"\nKafka outage: broker back after {broker_back_after:.1f}s; {accepted_during} customers registered "
          f"while down, outbox backlog {backlog}; "
          f"read models equal to the ground truth {time.monotonic() - restarted:.1f}s after the restart "
          f"(converged {converged:.1f}s after the load stopped)")


async def _unpublished(dsn: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("select count(*) from outbox where published_at is null"))
    finally:
        await conn.close()


def _probe_while_down(platform: RunningPlatform) -> list[tuple[str, int, str]]:
    """One read and one write per API while the database is down: (what, status, content type)."""
    headers = {"Authorization": f"Bearer {platform.admin_token}"}
    requests = [
        ("customer", "GET", "/v1/customers", None),
        ("customer", "POST", "/v1/customers", {"name": "Down Time", "email": "down.time@example.com"}),
        ("ticketing", "GET", "/v1/tickets", None),
        ("campaigns", "GET", "/v1/campaigns", None),
        ("campaigns", "POST", "/v1/surveys", {"customer_id": "0190a4a6-0000-7000-8000-000000000001", "kind": "nps"}),
        ("analytics", "GET", "/v1/customers", None),
    ]
    seen = []
    with httpx.Client(headers=headers, timeout=15.0) as http:
        for service, method, path, body in requests:
            answer = http.request(method, platform.url(service, path), json=body)
            seen.append((f"{method} {service}{path}", answer.status_code, answer.headers.get("content-type", "")))
    return seen


def test_postgres_restart_answers_503_problems_never_500_and_recovers_without_our_restart(
    platform: RunningPlatform, private_postgres: PrivatePostgres, truth: GroundTruth
) -> None:
    pids = {name: process.pid for name, process in platform.processes.items() if platform.alive(name)}
    load = Workload(platform, concurrency=3, truth=truth).start()
    try:
        load.wait_for_customers(len(truth.customers) + 3)
        _steady(platform, truth)
        private_postgres.stop()
        answers = _probe_while_down(platform)
        readiness = _readiness(platform)
        private_postgres.start()
        restarted = time.monotonic()
        eventually_sync(lambda: _readiness(platform), until=lambda r: all(s == 200 for s, _ in r.values()),
                        timeout=POSTGRES_RECOVERY_SECONDS, interval=0.5, message="every API to be ready again")
        ready_after = time.monotonic() - restarted
        load.wait_for_customers(len(truth.customers) + 3)
    finally:
        load.stop()
    assert all(status == 503 and PROBLEM_JSON in ctype for _, status, ctype in answers), answers
    assert all(status == 503 and checks.get("postgres") != "ok" for status, checks in readiness.values()), readiness
    run_blocking(verify_all(platform, truth, recovery_seconds=POSTGRES_RECOVERY_SECONDS))
    still = {name: process.pid for name, process in platform.processes.items() if platform.alive(name)}
    assert still == pids, "no process was restarted (or died) to recover from the database restart"
    print(f"\nPostgreSQL restart: every API ready {ready_after:.1f}s after the server came back")
