"""The contract guard: an event written anywhere in the suite that drifts from its published contract fails.

The guard (``shared.testing.contract_guard``) reads what tests wrote to the ``events`` and ``outbox``
tables of every database the plugin created; these tests write drifting events on purpose (hence
``drifting_events``) and check it notices, and that it fails the test that wrote them.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from shared.contracts.campaigns import MESSAGES_TOPIC, CampaignCreated, Channel, MessageRequested
from shared.events.envelope import new_envelope
from shared.store.db import connect, create_pool
from shared.store.eventstore import EventStore, Outbox
from shared.testing.contract_guard import ContractGuard, active
from shared.testing.plugin import REPO_ROOT

pytestmark = pytest.mark.drifting_events


def the_guard() -> ContractGuard:
    guard = active()
    assert guard is not None, "the test plugin installs a contract guard"
    return guard


def a_campaign(**overrides: object) -> CampaignCreated:
    fields: dict[str, object] = {
        "campaign_id": str(uuid.uuid4()), "name": "Spring", "objective": "upsell", "action_kind": "offer",
        "control_group_pct": 10, "starts_at": datetime(2030, 1, 1, 10, tzinfo=UTC),
    }
    fields.update(overrides)
    return CampaignCreated.model_validate(fields)


def naive_campaign() -> CampaignCreated:
    """A CampaignCreated as the API once built it: a start without a UTC offset (validation bypassed)."""
    valid = a_campaign()
    return CampaignCreated.model_construct(**{**dict(valid), "starts_at": datetime(2030, 1, 1, 10)})


async def append(conn: asyncpg.Connection, store: EventStore, event: CampaignCreated) -> None:
    await store.append(conn, stream_id=f"campaign-{event.campaign_id}", stream_type="campaign", expected_version=0,
                       events=[event], subject=event.campaign_id)


async def test_an_event_that_breaks_its_published_schema_is_reported(fresh_dsn: str) -> None:
    store = EventStore(service="campaigns", topic=None)
    conn = await connect(fresh_dsn)
    try:
        await append(conn, store, a_campaign())
        assert the_guard().check() == []
        await append(conn, store, naive_campaign())
        (problem,) = the_guard().check()
    finally:
        await conn.close()
    assert "CampaignCreated v1" in problem
    assert 'starts_at: "2030-01-01T10:00:00" is not a "date-time"' in problem
    assert "schemas/campaigns/CampaignCreated/v1.json" in problem
    assert the_guard().check() == []  # reported once


async def test_a_record_breaking_its_schema_or_sent_to_an_undeclared_topic_is_reported(
    fresh_dsn: str, topic_prefix: str
) -> None:
    request = MessageRequested(message_id="m-1", customer_id="c-1", channel=Channel.EMAIL, template="welcome",
                               kind="message")
    drifting = MessageRequested.model_construct(**{**dict(request), "kind": "carrier-pigeon"})
    conn = await connect(fresh_dsn)
    try:
        outbox = Outbox()
        await outbox.enqueue_envelope(conn, f"{topic_prefix}{MESSAGES_TOPIC}",
                                      new_envelope(request, service="campaigns", subject="c-1"))
        assert the_guard().check() == []
        await outbox.enqueue_envelope(conn, f"{topic_prefix}campaigns.events",
                                      new_envelope(request, service="campaigns", subject="c-1"))
        await outbox.enqueue_envelope(conn, f"{topic_prefix}{MESSAGES_TOPIC}",
                                      new_envelope(drifting, service="campaigns", subject="c-1"))
        wrong_topic, wrong_kind = the_guard().check()
    finally:
        await conn.close()
    assert "is published on campaigns.events, but docs/asyncapi.yaml declares it on campaigns.messages" in wrong_topic
    assert "kind" in wrong_kind and "carrier-pigeon" in wrong_kind


async def test_an_event_whose_transaction_commits_after_a_later_one_is_still_checked(fresh_dsn: str) -> None:
    """Positions are handed out at insert: the guard must not step over a row that commits late."""
    store = EventStore(service="campaigns", topic=f"x{uuid.uuid4().hex[:6]}.campaigns.events")
    pool = await create_pool(fresh_dsn, min_size=2, max_size=2)
    try:
        early = await pool.acquire()
        transaction = early.transaction()
        await transaction.start()
        await append(early, store, naive_campaign())  # the lower position, still uncommitted
        async with pool.acquire() as later, later.transaction():
            await append(later, store, a_campaign())
        assert the_guard().check() == []
        await transaction.commit()
        await pool.release(early)
        problems = the_guard().check()
    finally:
        await pool.close()
    assert len(problems) == 1 and "starts_at" in problems[0]  # once: as the event, not again as its record


def test_formats_are_asserted_an_instant_needs_an_offset_and_a_date_is_a_date() -> None:
    guard = ContractGuard()
    registered = {"customer_id": str(uuid.uuid4()), "registered_at": "2030-01-01T10:00:00Z", "birth_date": "1990-01-01"}
    assert guard.violations("CustomerRegistered", 1, registered) == []
    assert guard.violations("CustomerRegistered", 1, {**registered, "registered_at": "2030-01-01T10:00:00"})
    assert guard.violations("CustomerRegistered", 1, {**registered, "birth_date": "1990-01-01T00:00:00"})
    invoice = {"invoice_id": str(uuid.uuid4()), "order_id": str(uuid.uuid4()), "customer_id": str(uuid.uuid4()),
               "amount": "12.50", "currency": "EUR", "due_date": "2030-01-31", "issued_at": "2030-01-01T00:00:00+03:00"}
    assert guard.violations("InvoiceIssued", 1, invoice) == []
    assert guard.violations("InvoiceIssued", 1, {**invoice, "amount": "twelve"})


def test_the_guard_fails_the_test_that_appended_a_drifting_event(tmp_path: Path) -> None:
    """The plugin's hook turns a report into the failure of the very test that wrote the event."""
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["shared.testing.plugin"]\n')
    (tmp_path / "test_drift.py").write_text(
        "from shared.store.db import connect\n"
        "from shared.store.eventstore import EventStore\n"
        "from tests.contract.test_contract_guard import append, naive_campaign\n\n"
        "async def test_appends_a_naive_instant(fresh_dsn):\n"
        "    conn = await connect(fresh_dsn)\n"
        "    try:\n"
        "        await append(conn, EventStore(service='campaigns', topic=None), naive_campaign())\n"
        "    finally:\n"
        "        await conn.close()\n\n"
        "async def test_appends_nothing(fresh_dsn):\n"
        "    assert fresh_dsn\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         "-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 failed, 1 passed" in output
    assert "FAILED" in output and "test_appends_a_naive_instant" in output
    assert "contract guard: 1 event(s) written during this test break their published contract" in output
    assert 'starts_at: "2030-01-01T10:00:00" is not a "date-time"' in output
