"""Poison on every consumed topic goes to its DLQ with a reason; the partition keeps flowing; the CLI
shows the dead letters and replays them once the cause is fixed.

Each poison record is keyed by a real customer, so it sits on the same partition as that customer's
next real event: the real event being applied proves the poison did not block the partition.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from kafka import KafkaProducer

from shared.consuming.dlq import DeadLetter, read_dead_letters
from shared.testing.kafka import read_topic
from shared.testing.platform import RunningPlatform
from shared.testing.waiting import eventually, eventually_sync

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]

CONSUMED = ("customer.events", "ticketing.events", "campaigns.events", "analytics.events")
"""Every topic some worker of the platform consumes."""


def _template(platform: RunningPlatform, topic: str, subject: str) -> tuple[bytes, dict[str, bytes]]:
    """A real record of ``topic`` to mutate into poison (its value and headers)."""
    records = read_topic(platform.settings.kafka_bootstrap_servers, platform.topic(topic), expected=10_000, timeout=3)
    assert records, f"{topic} has no record to build poison from"
    mine = [r for r in records if r.headers.get("ce_subject") == subject] or records
    record = mine[0]
    return record.raw_value, {k: v.encode() for k, v in record.headers.items()}


def _poisons(value: bytes, headers: dict[str, bytes]) -> dict[str, tuple[bytes, list[tuple[str, bytes]]]]:
    def with_(**changes: bytes) -> list[tuple[str, bytes]]:
        return list({**headers, "ce_id": str(uuid.uuid4()).encode(), **changes}.items())

    ce_type = headers["ce_type"].decode()
    return {
        "not json": (b"\xff\xfe this is not json {", with_()),
        "schema mismatch": (orjson.dumps({"unexpected": [1, 2, 3]}), with_()),
        "unknown type": (value, with_(ce_type=ce_type.replace(ce_type.split(".")[-2] if "." in ce_type else ce_type,
                                                              "NoSuchThingHappened").encode())),
        "future version": (value, with_(ce_type=_future(ce_type).encode())),
        "missing headers": (value, []),
    }


def _future(ce_type: str) -> str:
    import re

    replaced = re.sub(r"v\d+", "v99", ce_type)
    assert replaced != ce_type, f"no version in {ce_type!r}"
    return replaced


@pytest.fixture
def customer(shared_platform: RunningPlatform) -> Iterator[str]:
    p = shared_platform
    with httpx.Client(headers={"Authorization": f"Bearer {p.admin_token}"}, timeout=30.0) as http:
        created = http.post(p.url("customer", "/v1/customers"), json={
            "name": "Poison Target", "email": f"poison.{uuid.uuid4().hex[:8]}@example.com",
            "consents": {"email": True}})
        assert created.status_code == 201, created.text
        yield created.json()["id"]


def _real_traffic(p: RunningPlatform, customer_id: str) -> None:
    """One real event per domain for the customer, after the poison on the same partitions."""
    with httpx.Client(headers={"Authorization": f"Bearer {p.admin_token}"}, timeout=30.0) as http:
        assert http.post(p.url("customer", "/v1/orders"), json={
            "customer_id": customer_id, "currency": "TRY", "channel": "web",
            "lines": [{"sku": "P-1", "name": "After poison", "category": "home", "quantity": 1,
                       "unit_price": "30.00", "unit_cost": "3.00"}]}).status_code == 201
        assert http.post(p.url("ticketing", "/v1/tickets"), json={
            "customer_id": customer_id, "kind": "complaint", "channel": "web", "subject": "After poison",
            "description": "Still flowing?"}).status_code == 201
        survey = http.post(p.url("campaigns", "/v1/surveys"), json={"customer_id": customer_id, "kind": "nps"}).json()
        assert http.post(p.url("campaigns", f"/v1/surveys/{survey['id']}/responses"),
                         json={"token": survey["response_token"], "score": 10}).status_code == 201


def _view(p: RunningPlatform, customer_id: str) -> dict[str, Any]:
    answer = httpx.get(p.url("analytics", f"/v1/customers/{customer_id}/360"), timeout=20.0,
                       headers={"Authorization": f"Bearer {p.token('analytics:read')}"})
    return answer.json() if answer.status_code == 200 else {}


def _flowed(view: dict[str, Any]) -> bool:
    return bool(view) and view["orders"]["count"] == 1 and view["service"]["complaints_total"] == 1 \
        and view["feedback"]["last_nps"] == 10


def test_poison_on_every_consumed_topic_is_dead_lettered_with_its_reason_and_the_partition_flows(
    shared_platform: RunningPlatform, customer: str
) -> None:
    p = shared_platform
    bootstrap = p.settings.kafka_bootstrap_servers
    # A real record of each topic to disguise the poison as (analytics publishes signals on its own).
    _real_traffic(p, customer)
    eventually_sync(lambda: _view(p, customer), until=_flowed, timeout=90, interval=0.5,
                    message="the first real events to be applied")
    sent: dict[str, dict[str, str]] = {}
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for topic in CONSUMED:
            value, headers = _template(p, topic, customer)
            for kind, (poison, poison_headers) in _poisons(value, headers).items():
                marker = str(uuid.uuid4())
                producer.send(p.topic(topic), key=customer.encode(), value=poison,
                              headers=[*poison_headers, ("chaos_marker", marker.encode())])
                sent.setdefault(topic, {})[marker] = kind
        producer.flush()
    finally:
        producer.close()

    before = _view(p, customer)
    _real_traffic(p, customer)  # a second order, complaint and answer, behind the poison
    def twice(view: dict[str, Any]) -> bool:
        return bool(view) and view["orders"]["count"] == 2 and view["service"]["complaints_total"] == 2 \
            and view["feedback"]["survey_count"] == 2

    after = eventually_sync(lambda: _view(p, customer), until=twice, timeout=120, interval=0.5,
                            message="real events behind the poison to be applied")
    assert after["orders"]["count"] == before["orders"]["count"] + 1

    for topic, markers in sent.items():
        def letters(topic: str = topic, markers: dict[str, str] = markers) -> list[DeadLetter]:
            return [d for d in read_dead_letters(bootstrap, p.topic(f"{topic}.dlq"))
                    if d.header("chaos_marker") in markers]

        def complete(found: list[DeadLetter], markers: dict[str, str] = markers) -> bool:
            return {d.header("chaos_marker") for d in found} == set(markers)

        # Every consumer of the topic dead-letters each poison record, once, with a reason.
        found = eventually_sync(letters, until=complete, timeout=60, interval=1.0,
                                message=f"every poison record of {topic} on its DLQ")
        pairs = [(d.header("chaos_marker"), d.header("dlq_consumer")) for d in found]
        assert len(pairs) == len(set(pairs)), f"a poison record of {topic} was dead-lettered twice by one consumer"
        for letter in found:
            assert letter.reason, f"a dead letter of {topic} has no reason"
            assert letter.original_topic == p.topic(topic)
            assert letter.header("dlq_consumer")
        per_kind = {markers[d.header("chaos_marker")]: d.reason for d in found}
        assert len(set(per_kind.values())) >= 3, f"reasons must tell the kinds of poison apart: {per_kind}"
        print(f"\n{topic}: {per_kind}")


async def _exec(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _c360(p: RunningPlatform, *args: str) -> str:
    c360 = str(Path(sys.executable).parent / "c360")
    done = subprocess.run([c360, *args], env=p.env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


async def test_a_dead_letter_is_shown_and_replayed_by_the_cli_once_the_cause_is_fixed(
    shared_platform: RunningPlatform, customer: str
) -> None:
    p = shared_platform
    dsn = p.dsns["analytics"]
    # The "bug": the analytics read model refuses this customer's order events (a non-transient error).
    await _exec(dsn, f"""
        create or replace function analytics.chaos_refuse() returns trigger language plpgsql as $$
        begin
            if new.customer_id = '{customer}'::uuid and new.event_type like '%OrderPlaced%' then
                raise exception 'chaos: refusing this event';
            end if;
            return new;
        end $$;
        create trigger chaos_refuse before insert on analytics.customer_events
            for each row execute function analytics.chaos_refuse();""")
    fixed = False
    try:
        await asyncio.to_thread(_real_traffic, p, customer)
        await eventually(lambda: asyncio.to_thread(_view, p, customer),
                         until=lambda v: bool(v) and v["service"]["complaints_total"] == 1, timeout=90, interval=0.5,
                         message="the events after the refused one to be applied")
        show = ("dlq", "show", "customer.events", "--limit", "500")
        shown = await eventually(lambda: asyncio.to_thread(_c360, p, *show),
                                 until=lambda out: "apply_failed" in out and "OrderPlaced" in out, timeout=60,
                                 interval=1.0, message="c360 dlq show to list the refused event")
        assert (await asyncio.to_thread(_view, p, customer))["orders"]["count"] == 0
        await _exec(dsn, "drop trigger chaos_refuse on analytics.customer_events; "
                         "drop function analytics.chaos_refuse();")
        fixed = True
        replayed = await asyncio.to_thread(_c360, p, "dlq", "replay", "customer.events", "--reason", "apply_failed")
        assert "replayed" in replayed and not replayed.startswith("replayed 0 "), replayed
        view = await eventually(lambda: asyncio.to_thread(_view, p, customer),
                                until=lambda v: bool(v) and v["orders"]["count"] == 1, timeout=90, interval=0.5,
                                message="the replayed event to be applied after the fix")
        assert view["orders"]["total_spent"] == "30.00"
        again = await asyncio.to_thread(_c360, p, "dlq", "replay", "customer.events", "--reason", "apply_failed")
        assert again.startswith("replayed 0 "), f"a second replay takes only what is new: {again}"
        print(f"\n{shown.splitlines()[-1]}\n{replayed.strip()}")
    finally:
        if not fixed:
            await _exec(dsn, "drop trigger if exists chaos_refuse on analytics.customer_events")
