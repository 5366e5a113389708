"""Service-message template commands on in-memory ports: replace them (If-Match, 422s, no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.campaigns.application import service_messages as handlers
from shared.contracts.campaigns import Channel, ServiceMessageTemplate, ServiceMessageTemplatesChanged
from shared.errors import InvalidInput, PreconditionFailed
from shared.testing.fakes import FakeWork
from tests.campaigns.fakes import InMemoryReadModel

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
REFUND = ServiceMessageTemplate(kind="refund_paid", text="Refund of {amount} {currency} paid.",
                                channels=[Channel.SMS])


@pytest.fixture
def work() -> FakeWork[InMemoryReadModel]:
    return FakeWork(fake_rows=InMemoryReadModel(now=NOW))


async def test_replacing_the_templates_records_the_next_version(work: FakeWork[InMemoryReadModel]) -> None:
    outcome = await handlers.replace_templates(work, templates=[REFUND], by="ops", now=NOW, expected_version=0)

    assert outcome.version == 1
    body = outcome.resource
    assert body["version"] == 1
    assert body["changed_by"] == "ops"
    assert body["changed_at"] == "2026-03-10T12:00:00Z"
    by_kind = {t["kind"]: t for t in body["templates"]}
    assert by_kind["refund_paid"]["text"] == "Refund of {amount} {currency} paid."
    assert by_kind["order_delivered"]["channels"] == ["push", "sms", "email"]  # a default, filled in
    (event,) = work.events(handlers.TEMPLATES_STREAM)
    assert isinstance(event, ServiceMessageTemplatesChanged)
    assert event.version == 1
    assert REFUND in event.templates
    saved = work.rows.current_templates
    assert (saved.version, saved.changed_by, saved.changed_at) == (1, "ops", NOW)
    assert saved.of("refund_paid") == REFUND


async def test_the_same_templates_again_record_nothing(work: FakeWork[InMemoryReadModel]) -> None:
    await handlers.replace_templates(work, templates=[REFUND], by="ops", now=NOW, expected_version=None)

    again = await handlers.replace_templates(work, templates=[REFUND], by="someone", now=NOW, expected_version=1)

    assert again.version == 1
    assert again.resource["changed_by"] == "ops"
    assert len(work.events()) == 1


async def test_the_defaults_again_change_nothing_at_version_0(work: FakeWork[InMemoryReadModel]) -> None:
    outcome = await handlers.replace_templates(work, templates=[], by="ops", now=NOW, expected_version=0)
    assert outcome.version == 0
    assert work.events() == []


async def test_a_stale_if_match_is_refused(work: FakeWork[InMemoryReadModel]) -> None:
    with pytest.raises(PreconditionFailed) as refused:
        await handlers.replace_templates(work, templates=[REFUND], by="ops", now=NOW, expected_version=3)
    assert refused.value.extra["current_version"] == 0
    assert work.events() == []


async def test_an_unknown_placeholder_is_refused_naming_the_field(work: FakeWork[InMemoryReadModel]) -> None:
    bad = ServiceMessageTemplate(kind="refund_paid", text="Dear {name}", channels=[Channel.SMS])
    with pytest.raises(InvalidInput) as refused:
        await handlers.replace_templates(work, templates=[REFUND.model_copy(update={"kind": "order_delivered",
                                                                                   "text": "Delivered."}), bad],
                                         by="ops", now=NOW, expected_version=None)
    assert refused.value.extra["field"] == "templates[1].text"
    assert work.events() == []
    assert work.rows.current_templates.version == 0
