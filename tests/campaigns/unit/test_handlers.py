"""Campaign definition commands on in-memory ports: the events, the read model and the outcome, no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.campaigns.application import handlers
from services.campaigns.domain.model import CampaignStatus
from services.campaigns.domain.ready_made import BIRTHDAY_GREETING
from shared.contracts.campaigns import CampaignActivated, CampaignCreated, CampaignPaused, CampaignUpdated
from shared.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from shared.store.outcomes import Created, Updated
from shared.testing.fakes import FakeWork
from tests.campaigns.fakes import InMemoryReadModel
from tests.campaigns.unit.builders import a_definition_document

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def work() -> FakeWork[InMemoryReadModel]:
    return FakeWork(fake_rows=InMemoryReadModel(now=NOW))


async def created(work: FakeWork[InMemoryReadModel], **overrides: object) -> str:
    outcome = await handlers.create_campaign(work, document=a_definition_document(**overrides))
    return outcome.resource_id


async def test_a_new_campaign_is_a_draft_at_version_1(work: FakeWork[InMemoryReadModel]) -> None:
    outcome = await handlers.create_campaign(work, document=a_definition_document(name="Spring"))

    assert isinstance(outcome, Created)
    assert outcome.version == 1
    assert outcome.resource["id"] == outcome.resource_id
    assert outcome.resource["status"] == "draft"
    assert outcome.resource["name"] == "Spring"
    assert outcome.resource["created_at"] == "2026-03-10T12:00:00Z"
    (event,) = work.events(f"campaign-{outcome.resource_id}")
    assert isinstance(event, CampaignCreated)
    assert event.campaign_id == outcome.resource_id
    assert event.definition["name"] == "Spring"
    assert str(work.rows.budgets[outcome.resource_id]) == "1000.00"


async def test_a_campaign_that_does_not_fit_is_refused_and_nothing_is_written(
    work: FakeWork[InMemoryReadModel],
) -> None:
    document = a_definition_document(trigger={"event_type": "OrderPlaced", "condition": "event.no_such_field > 1"})
    with pytest.raises(InvalidInput):
        await handlers.create_campaign(work, document=document)
    assert work.events() == []
    assert work.rows.campaigns == {}


async def test_changing_a_draft_merges_the_fields_and_moves_the_version(work: FakeWork[InMemoryReadModel]) -> None:
    campaign_id = await created(work)

    outcome = await handlers.update_campaign(work, campaign_id=campaign_id, if_match=1,
                                             changes={"name": "Renamed", "budget": {"total": "50.00"}})

    assert isinstance(outcome, Updated)
    assert outcome.version == 2
    assert outcome.resource["name"] == "Renamed"
    assert outcome.resource["objective"] == "cross_sell"
    assert outcome.resource["version"] == 2
    update = work.events(f"campaign-{campaign_id}")[-1]
    assert isinstance(update, CampaignUpdated)
    assert update.changed_fields == ["budget", "name"]
    assert str(work.rows.budgets[campaign_id]) == "50.00"


async def test_a_stale_if_match_is_refused_with_the_current_version(work: FakeWork[InMemoryReadModel]) -> None:
    campaign_id = await created(work)
    with pytest.raises(PreconditionFailed) as refused:
        await handlers.update_campaign(work, campaign_id=campaign_id, changes={"name": "x"}, if_match=7)
    assert refused.value.extra["current_version"] == 1
    assert len(work.events()) == 1


async def test_an_unknown_campaign_is_not_found(work: FakeWork[InMemoryReadModel]) -> None:
    with pytest.raises(NotFound):
        await handlers.update_campaign(work, campaign_id="nope", changes={"name": "x"}, if_match=None)
    with pytest.raises(NotFound):
        await handlers.change_status(work, campaign_id="nope", to=CampaignStatus.ACTIVE, if_match=None, now=NOW)


async def test_an_active_campaign_is_not_edited(work: FakeWork[InMemoryReadModel]) -> None:
    campaign_id = await created(work)
    await handlers.change_status(work, campaign_id=campaign_id, to=CampaignStatus.ACTIVE, if_match=None, now=NOW)
    with pytest.raises(Conflict) as refused:
        await handlers.update_campaign(work, campaign_id=campaign_id, changes={"name": "x"}, if_match=None)
    assert refused.value.extra["current_status"] == "active"


async def test_activating_records_the_status_without_a_sweep_for_an_event_campaign(
    work: FakeWork[InMemoryReadModel],
) -> None:
    campaign_id = await created(work)

    outcome = await handlers.change_status(work, campaign_id=campaign_id, to=CampaignStatus.ACTIVE, if_match=1,
                                           now=NOW)

    assert outcome == Updated(outcome.resource, 2)
    assert outcome.resource["status"] == "active"
    assert isinstance(work.events(f"campaign-{campaign_id}")[-1], CampaignActivated)
    assert work.rows.campaigns[campaign_id]["status"] == "active"
    assert work.rows.sweeps == []


async def test_activating_a_birthday_campaign_plans_its_first_sweep(work: FakeWork[InMemoryReadModel]) -> None:
    outcome = await handlers.create_campaign(work, document=BIRTHDAY_GREETING)

    await handlers.change_status(work, campaign_id=outcome.resource_id, to=CampaignStatus.ACTIVE, if_match=None,
                                 now=NOW)

    assert work.rows.sweeps == [(outcome.resource_id, NOW)]


async def test_activating_an_active_campaign_changes_nothing(work: FakeWork[InMemoryReadModel]) -> None:
    campaign_id = await created(work)
    await handlers.change_status(work, campaign_id=campaign_id, to=CampaignStatus.ACTIVE, if_match=None, now=NOW)

    again = await handlers.change_status(work, campaign_id=campaign_id, to=CampaignStatus.ACTIVE, if_match=2,
                                         now=NOW)

    assert again.version == 2
    assert len(work.events(f"campaign-{campaign_id}")) == 2


async def test_pausing_and_the_status_rules(work: FakeWork[InMemoryReadModel]) -> None:
    campaign_id = await created(work)
    with pytest.raises(Conflict):
        await handlers.change_status(work, campaign_id=campaign_id, to=CampaignStatus.PAUSED, if_match=None, now=NOW)
    await handlers.change_status(work, campaign_id=campaign_id, to=CampaignStatus.ACTIVE, if_match=None, now=NOW)

    paused = await handlers.change_status(work, campaign_id=campaign_id, to=CampaignStatus.PAUSED, if_match=None,
                                          now=NOW)

    assert paused.resource["status"] == "paused"
    assert isinstance(work.events(f"campaign-{campaign_id}")[-1], CampaignPaused)
    with pytest.raises(PreconditionFailed):
        await handlers.change_status(work, campaign_id=campaign_id, to=CampaignStatus.COMPLETED, if_match=1, now=NOW)
