"""Command handlers of the campaigns service: one async function per command, run in a unit of work.

They work through ``Work[ReadModel]`` (the event log and ``application.ports.ReadModel``) and return
an outcome (``shared.store.outcomes``); ``api/`` turns it into the status, ``ETag`` and ``Location``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.campaigns.application.ports import ReadModel
from services.campaigns.application.triggers import trigger_event_fields
from services.campaigns.domain.definition import parse_definition
from services.campaigns.domain.model import Campaign, CampaignStatus, Schedule, campaign_stream
from shared.errors import NotFound
from shared.store.outcomes import Created, Updated
from shared.store.ports import Work
from shared.store.versions import ensure_version_matches

SWEPT_DAILY = frozenset({Schedule.BIRTHDAY, Schedule.INACTIVITY, Schedule.RELATIONSHIP_SURVEY})
"""Schedules the engine's daily sweep serves: activating such a campaign plans its first sweep."""


async def _campaign_body(uow: Work[ReadModel], campaign_id: str) -> dict[str, Any]:
    body = await uow.rows.campaign(campaign_id)
    if body is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return body


async def create_campaign(uow: Work[ReadModel], *, document: dict[str, Any]) -> Created:
    """Save a new draft campaign (validating its condition against the contracts)."""
    parsed, definition = parse_definition(document)
    raw = parsed.model_dump(mode="json")
    campaign_id = str(uuid.uuid4())
    campaign = Campaign.create(campaign_id, definition, raw, event_fields=trigger_event_fields())
    await uow.append(stream_id=campaign_stream(campaign_id), stream_type="campaign", expected_version=0,
                     events=campaign.pull_events(), subject=campaign_id)
    await uow.rows.insert_campaign(campaign_id, definition, raw, campaign.version)
    return Created(await _campaign_body(uow, campaign_id), campaign_id, campaign.version)


async def _load(uow: Work[ReadModel], campaign_id: str) -> Campaign:
    history = await uow.load(campaign_stream(campaign_id))
    if not history:
        raise NotFound(f"campaign {campaign_id} not found")
    return Campaign.rehydrate(e.event for e in history)


async def update_campaign(
    uow: Work[ReadModel], *, campaign_id: str, changes: dict[str, Any], if_match: int | None
) -> Updated:
    """Change a draft or paused campaign (merge of the given top-level fields)."""
    campaign = await _load(uow, campaign_id)
    ensure_version_matches(if_match, campaign.version)
    merged = {**campaign.raw_definition, **changes}
    parsed, definition = parse_definition(merged)
    raw = parsed.model_dump(mode="json")
    campaign.update(definition, raw, sorted(changes), event_fields=trigger_event_fields())
    expected = campaign.expected_version
    await uow.append(stream_id=campaign_stream(campaign_id), stream_type="campaign", expected_version=expected,
                     events=campaign.pull_events(), subject=campaign_id)
    await uow.rows.update_campaign(campaign_id, definition, raw, campaign.version)
    return Updated(await _campaign_body(uow, campaign_id), campaign.version)


async def change_status(
    uow: Work[ReadModel], *, campaign_id: str, to: CampaignStatus, if_match: int | None, now: datetime
) -> Updated:
    """Activate, pause or complete a campaign; activating a scheduled one plans its sweep from ``now``."""
    campaign = await _load(uow, campaign_id)
    ensure_version_matches(if_match, campaign.version)
    {CampaignStatus.ACTIVE: campaign.activate, CampaignStatus.PAUSED: campaign.pause,
     CampaignStatus.COMPLETED: campaign.complete}[to]()
    expected = campaign.expected_version
    events = campaign.pull_events()
    if events:
        await uow.append(stream_id=campaign_stream(campaign_id), stream_type="campaign", expected_version=expected,
                         events=events, subject=campaign_id)
        await uow.rows.set_campaign_status(campaign_id, campaign.status, campaign.version)
        if campaign.status is CampaignStatus.ACTIVE and _schedule(campaign) in SWEPT_DAILY:
            await uow.rows.schedule_sweep(campaign_id, now)
    return Updated(await _campaign_body(uow, campaign_id), campaign.version)


def _schedule(campaign: Campaign) -> str | None:
    """The campaign's schedule, as its definition (the stream's latest) names it."""
    trigger = campaign.raw_definition.get("trigger") or {}
    schedule: str | None = trigger.get("schedule")
    return schedule
