"""Command handlers of the campaigns service: one async function per command, run in a unit of work."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.campaigns.application.engine import schedule_sweep
from services.campaigns.application.queries import campaign_read
from services.campaigns.application.triggers import trigger_event_fields
from services.campaigns.domain.definition import parse_definition
from services.campaigns.domain.model import Campaign, CampaignStatus, Schedule
from shared.errors import NotFound
from shared.store.idempotent_commands import CommandResult
from shared.store.uow import UnitOfWork
from shared.store.versions import ensure_version_matches
from shared.web import etag_for


def _stream(campaign_id: str) -> str:
    return f"campaign-{campaign_id}"


async def create_campaign(uow: UnitOfWork, *, document: dict[str, Any]) -> CommandResult:
    """Save a new draft campaign (validating its condition against the contracts)."""
    parsed, definition = parse_definition(document)
    raw = parsed.model_dump(mode="json")
    campaign_id = str(uuid.uuid4())
    campaign = Campaign.create(campaign_id, definition, raw, event_fields=trigger_event_fields())
    await uow.append(stream_id=_stream(campaign_id), stream_type="campaign", expected_version=0,
                     events=campaign.pull_events(), subject=campaign_id)
    await uow.conn.execute(
        """insert into campaigns (id, name, objective, status, trigger_event_type, schedule, definition, version)
           values ($1, $2, $3, 'draft', $4, $5, $6, $7)""",
        uuid.UUID(campaign_id), definition.name, definition.objective.value, definition.trigger.event_type,
        definition.trigger.schedule.value if definition.trigger.schedule else None, raw, campaign.version,
    )
    await uow.conn.execute(
        "insert into campaign_budgets (campaign_id, total) values ($1, $2)",
        uuid.UUID(campaign_id), definition.budget.total if definition.budget else None,
    )
    body = await campaign_read(uow.conn, campaign_id)
    return CommandResult(201, body, {"ETag": etag_for(campaign.version), "Location": f"/v1/campaigns/{campaign_id}"})


async def _load(uow: UnitOfWork, campaign_id: str) -> Campaign:
    history = await uow.store.load(uow.conn, _stream(campaign_id))
    if not history:
        raise NotFound(f"campaign {campaign_id} not found")
    return Campaign.rehydrate(e.event for e in history)


async def update_campaign(
    uow: UnitOfWork, *, campaign_id: str, changes: dict[str, Any], if_match: int | None
) -> CommandResult:
    """Change a draft or paused campaign (merge of the given top-level fields)."""
    campaign = await _load(uow, campaign_id)
    if if_match is not None:
        ensure_version_matches(if_match, campaign.version)
    merged = {**campaign.raw_definition, **changes}
    parsed, definition = parse_definition(merged)
    raw = parsed.model_dump(mode="json")
    campaign.update(definition, raw, sorted(changes), event_fields=trigger_event_fields())
    expected = campaign.expected_version
    await uow.append(stream_id=_stream(campaign_id), stream_type="campaign", expected_version=expected,
                     events=campaign.pull_events(), subject=campaign_id)
    await uow.conn.execute(
        """update campaigns set name = $2, objective = $3, trigger_event_type = $4, schedule = $5, definition = $6,
               version = $7, updated_at = now() where id = $1""",
        uuid.UUID(campaign_id), definition.name, definition.objective.value, definition.trigger.event_type,
        definition.trigger.schedule.value if definition.trigger.schedule else None, raw, campaign.version,
    )
    await uow.conn.execute("update campaign_budgets set total = $2 where campaign_id = $1", uuid.UUID(campaign_id),
                           definition.budget.total if definition.budget else None)
    return CommandResult(200, await campaign_read(uow.conn, campaign_id), {"ETag": etag_for(campaign.version)})


async def change_status(
    uow: UnitOfWork, *, campaign_id: str, to: CampaignStatus, if_match: int | None, now: datetime
) -> CommandResult:
    """Activate, pause or complete a campaign."""
    campaign = await _load(uow, campaign_id)
    if if_match is not None:
        ensure_version_matches(if_match, campaign.version)
    {CampaignStatus.ACTIVE: campaign.activate, CampaignStatus.PAUSED: campaign.pause,
     CampaignStatus.COMPLETED: campaign.complete}[to]()
    expected = campaign.expected_version
    events = campaign.pull_events()
    if events:
        await uow.append(stream_id=_stream(campaign_id), stream_type="campaign", expected_version=expected,
                         events=events, subject=campaign_id)
        await uow.conn.execute("update campaigns set status = $2, version = $3, updated_at = now() where id = $1",
                               uuid.UUID(campaign_id), campaign.status.value, campaign.version)
        schedule = await uow.conn.fetchval("select schedule from campaigns where id = $1", uuid.UUID(campaign_id))
        if campaign.status is CampaignStatus.ACTIVE and schedule in (Schedule.BIRTHDAY, Schedule.INACTIVITY,
                                                                     Schedule.RELATIONSHIP_SURVEY):
            await schedule_sweep(uow.conn, campaign_id, now)
    return CommandResult(200, await campaign_read(uow.conn, campaign_id), {"ETag": etag_for(campaign.version)})
