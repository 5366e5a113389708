"""Campaign definitions: validation at save time, status transitions, and the ready-made nine."""

from __future__ import annotations

import pytest

from services.campaigns.application.triggers import is_trigger_source, trigger_event_fields
from services.campaigns.domain.definition import parse_definition
from services.campaigns.domain.model import Campaign, CampaignStatus
from services.campaigns.domain.ready_made import READY_MADE
from shared.errors import Conflict, InvalidInput

from .builders import a_definition_document


def create(document: dict[str, object]) -> Campaign:
    _, definition = parse_definition(document)
    return Campaign.create("camp-1", definition, document, event_fields=trigger_event_fields())


def test_the_issue_example_is_a_valid_definition() -> None:
    campaign = create(a_definition_document(control_group_pct=10))
    assert campaign.status is CampaignStatus.DRAFT
    assert [e.event_type for e in campaign.pending] == ["CampaignCreated"]


def test_an_unknown_field_in_the_condition_is_refused_with_its_position() -> None:
    with pytest.raises(InvalidInput) as caught:
        create(a_definition_document(trigger={"event_type": "OrderPlaced", "condition": "event.totl > 1"}))
    assert caught.value.extra["line"] == 1
    assert caught.value.extra["column"] == 7


def test_an_unknown_event_type_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown event type"):
        create(a_definition_document(trigger={"event_type": "OrderTeleported"}))


def test_control_group_above_50_is_refused() -> None:
    with pytest.raises(InvalidInput):
        create(a_definition_document(control_group_pct=60))


def test_a_bad_delay_is_refused() -> None:
    with pytest.raises(InvalidInput, match="delay"):
        create(a_definition_document(trigger={"event_type": "OrderPlaced", "delay": "soonish"}))


def test_an_offer_needs_a_product() -> None:
    with pytest.raises(InvalidInput, match="sku or a category"):
        create(a_definition_document(action={"kind": "offer", "channels": ["email"], "template": "t", "offer": {}}))


def test_an_offer_may_take_its_product_from_the_recommendations() -> None:
    action = {"kind": "offer", "channels": ["email"], "template": "t", "offer": {"from_recommendations": True}}
    campaign = create(a_definition_document(action=action))
    assert campaign.definition is not None
    offer = campaign.definition.action.offer
    assert offer is not None and offer.from_recommendations and offer.sku is None


@pytest.mark.parametrize("offer", [{"from_recommendations": True, "sku": "SKU-1"},
                                   {"from_recommendations": True, "category": "books"}])
def test_an_offer_from_the_recommendations_names_no_product_itself(offer: dict[str, object]) -> None:
    action = {"kind": "offer", "channels": ["email"], "template": "t", "offer": offer}
    with pytest.raises(InvalidInput, match="takes its sku from them") as caught:
        create(a_definition_document(action=action))
    assert caught.value.extra["field"] == "action.offer.from_recommendations"


def test_only_an_offer_takes_its_product_from_the_recommendations() -> None:
    action = {"kind": "message", "channels": ["email"], "template": "t", "offer": {"from_recommendations": True}}
    with pytest.raises(InvalidInput, match="only an offer action"):
        create(a_definition_document(action=action))


def test_status_moves_draft_active_paused_completed() -> None:
    campaign = create(a_definition_document())
    campaign.pull_events()
    campaign.activate()
    campaign.pause()
    campaign.activate()
    campaign.complete()
    assert [e.event_type for e in campaign.pull_events()] == [
        "CampaignActivated", "CampaignPaused", "CampaignActivated", "CampaignCompleted"]
    with pytest.raises(Conflict):
        campaign.activate()


def test_an_active_campaign_cannot_be_edited() -> None:
    campaign = create(a_definition_document())
    campaign.activate()
    _, definition = parse_definition(a_definition_document(name="renamed"))
    with pytest.raises(Conflict):
        campaign.update(definition, {}, ["name"], event_fields=trigger_event_fields())


@pytest.mark.parametrize("key", sorted(READY_MADE))
def test_every_ready_made_campaign_is_valid(key: str) -> None:
    assert create(READY_MADE[key]).status is CampaignStatus.DRAFT


def test_there_are_ten_ready_made_campaigns_service_recovery_having_two_triggers() -> None:
    assert len(READY_MADE) == 10
    recovery = [d for d in READY_MADE.values() if d["objective"] == "service_recovery"]
    assert sorted(d["trigger"]["event_type"] for d in recovery) == ["SlaBreached", "SurveyAnswered"]


@pytest.mark.parametrize("decision", ["OfferSent", "MessageSent", "MessageSuppressed", "HeldOut", "SurveySent"])
def test_a_campaign_decision_cannot_trigger_a_campaign(decision: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        create(a_definition_document(trigger={"event_type": decision}))
    assert refused.value.extra["field"] == "trigger.event_type"


def test_what_customers_do_in_campaigns_can_trigger_a_campaign() -> None:
    document = a_definition_document(trigger={"event_type": "SurveyAnswered",
                                              "condition": "event.nps_category == 'detractor'"})
    assert create(document).status is CampaignStatus.DRAFT


def test_the_engine_ignores_its_own_decisions_read_back_from_campaigns_events() -> None:
    from shared.contracts.campaigns import HeldOut, NpsCategory, SurveyAnswered, SurveyKind

    answered = SurveyAnswered(survey_id="s", customer_id="c", kind=SurveyKind.NPS, score=2, comment=None,
                              nps_category=NpsCategory.DETRACTOR)
    assert is_trigger_source(answered)
    assert not is_trigger_source(HeldOut(campaign_id="x", customer_id="c", triggering_event_id="e"))
