"""Marketing policy commands on in-memory ports: replace it, import holidays into it (If-Match, no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time

import pytest

from services.campaigns.application import policy as handlers
from services.campaigns.domain.policy import POLICY_STREAM
from shared.contracts.campaigns import (
    CampaignPolicyOverride,
    FrequencyCap,
    MarketingPolicyChanged,
    MarketingPolicyRules,
    QuietHours,
    SendBlackout,
)
from shared.errors import InvalidInput, PreconditionFailed
from shared.store.outcomes import Updated
from shared.testing.fakes import FakeWork
from tests.campaigns.fakes import InMemoryReadModel

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
DEFAULTS = MarketingPolicyRules(caps=[FrequencyCap(channel=None, max_messages=3, window_days=7)])
STRICTER = MarketingPolicyRules(caps=[FrequencyCap(channel=None, max_messages=2, window_days=7)],
                                quiet_hours=QuietHours(start=time(21), end=time(8)))


@pytest.fixture
def work() -> FakeWork[InMemoryReadModel]:
    return FakeWork(fake_rows=InMemoryReadModel(now=NOW))


async def replace(work: FakeWork[InMemoryReadModel], rules: MarketingPolicyRules,
                  expected_version: int | None = None) -> Updated:
    return await handlers.replace_policy(work, defaults=DEFAULTS, rules=rules, by="ops", now=NOW,
                                         expected_version=expected_version)


async def test_replacing_the_defaults_records_version_1(work: FakeWork[InMemoryReadModel]) -> None:
    outcome = await replace(work, STRICTER, expected_version=0)

    assert outcome.version == 1
    assert outcome.resource["version"] == 1
    assert outcome.resource["changed_by"] == "ops"
    assert outcome.resource["changed_at"] == "2026-03-10T12:00:00Z"
    assert outcome.resource["caps"][0]["max_messages"] == 2
    (event,) = work.events(POLICY_STREAM)
    assert isinstance(event, MarketingPolicyChanged)
    assert event.changed == ["caps", "quiet_hours"]
    assert work.rows.policy == {"version": 1, "rules": STRICTER, "changed_by": "ops", "changed_at": NOW}


async def test_the_same_policy_again_records_nothing(work: FakeWork[InMemoryReadModel]) -> None:
    await replace(work, STRICTER)

    again = await replace(work, STRICTER, expected_version=1)

    assert again.version == 1
    assert len(work.events()) == 1


async def test_a_stale_if_match_is_refused_before_anything_is_checked(work: FakeWork[InMemoryReadModel]) -> None:
    await replace(work, STRICTER)
    with pytest.raises(PreconditionFailed) as refused:
        await replace(work, DEFAULTS, expected_version=0)
    assert refused.value.extra["current_version"] == 1
    assert len(work.events()) == 1


async def test_an_override_of_an_unknown_campaign_is_refused(work: FakeWork[InMemoryReadModel]) -> None:
    known = str(uuid.uuid4())
    work.rows.campaigns[known] = {"status": "draft", "version": 1, "definition": {}, "created_at": NOW,
                                  "updated_at": NOW}
    unknown = str(uuid.uuid4())
    rules = DEFAULTS.model_copy(update={"overrides": [CampaignPolicyOverride(campaign_id=known),
                                                      CampaignPolicyOverride(campaign_id=unknown)]})
    with pytest.raises(InvalidInput) as refused:
        await replace(work, rules)
    assert refused.value.extra["field"] == "overrides[1].campaign_id"
    assert work.events() == []
    assert work.rows.policy is None


async def test_an_override_naming_no_campaign_id_is_refused(work: FakeWork[InMemoryReadModel]) -> None:
    rules = DEFAULTS.model_copy(update={"overrides": [CampaignPolicyOverride(campaign_id="not-an-id")]})
    with pytest.raises(InvalidInput) as refused:
        await replace(work, rules)
    assert refused.value.extra["field"] == "overrides[0].campaign_id"


async def test_holidays_are_added_to_the_blackouts_once(work: FakeWork[InMemoryReadModel]) -> None:
    new_year = SendBlackout(day=date(2027, 1, 1), name="New Year's Day")

    outcome = await handlers.import_blackouts(work, defaults=DEFAULTS, blackouts=[new_year], by="ops", now=NOW,
                                              expected_version=0)
    again = await handlers.import_blackouts(work, defaults=DEFAULTS, blackouts=[new_year], by="ops", now=NOW,
                                            expected_version=None)

    assert outcome.version == again.version == 1
    assert outcome.resource["blackouts"] == [{"day": "2027-01-01", "name": "New Year's Day"}]
    assert outcome.resource["caps"] == again.resource["caps"] == [
        {"channel": None, "max_messages": 3, "window_days": 7}]
    assert [type(e) for e in work.events(POLICY_STREAM)] == [MarketingPolicyChanged]
    with pytest.raises(PreconditionFailed):
        await handlers.import_blackouts(work, defaults=DEFAULTS, blackouts=[], by="ops", now=NOW,
                                        expected_version=0)
