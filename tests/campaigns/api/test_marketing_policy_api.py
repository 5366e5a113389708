"""GET/PUT /v1/marketing-policy and the holiday .ics import against real PostgreSQL: ETags, 422s, events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from services.campaigns.bootstrap import build_app
from services.campaigns.config import CampaignsSettings
from shared.settings import PlatformSettings
from shared.testing.clock import FixedClock
from shared.web import mint_token
from tests.campaigns.unit.builders import a_definition_document

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


class Api:
    def __init__(self, http: httpx.AsyncClient, admin: str, marketer: str, dsn: str) -> None:
        self.http, self.admin, self.marketer, self.dsn = http, admin, marketer, dsn

    def as_admin(self, **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin}", **headers}

    async def put(self, body: dict[str, Any], **headers: str) -> httpx.Response:
        return await self.http.put("/v1/marketing-policy", json=body, headers=self.as_admin(**headers))

    async def policy(self) -> httpx.Response:
        return await self.http.get("/v1/marketing-policy")

    async def events(self) -> list[dict[str, Any]]:
        """The data of the policy's stream, oldest first."""
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch(
                "select data::text from events where stream_id = 'marketing-policy' order by version")
        finally:
            await conn.close()
        return [orjson.loads(r[0]) for r in rows]


@pytest.fixture
async def api(make_database: Callable[..., Awaitable[str]], platform_settings: PlatformSettings) -> AsyncIterator[Api]:
    dsn = await make_database("campaigns")
    settings = CampaignsSettings(**platform_settings.model_dump(), database_url=dsn)
    app = build_app(settings, clock=FixedClock(NOW))
    marketer = mint_token(settings, "marketer", ["campaigns:read", "campaigns:write"])
    admin = mint_token(settings, "ops-lead", ["admin"])
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test",
        headers={"Authorization": f"Bearer {marketer}"},
    ) as http:
        yield Api(http, admin, marketer, dsn)


def a_policy(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "caps": [{"channel": None, "max_messages": 3, "window_days": 7},
                 {"channel": "sms", "max_messages": 1, "window_days": 1}],
        "quiet_hours": {"start": "21:00", "end": "08:00"},
        "blackouts": [{"day": "2026-12-31", "name": "New Year's Eve"}],
        "complaint_hold": True, "sla_breach_hold_days": 7, "detractor_hold_days": 30, "overrides": [],
    }
    body.update(overrides)
    return body


async def test_before_any_change_the_policy_is_the_deployment_defaults_at_version_0(api: Api) -> None:
    answer = await api.policy()
    assert answer.status_code == 200
    assert answer.headers["ETag"] == '"0"'
    body = answer.json()
    assert body["caps"] == [{"channel": None, "max_messages": 3, "window_days": 7}]
    assert body["quiet_hours"] == {"start": "21:00:00", "end": "08:00:00"}
    assert (body["version"], body["changed_by"], body["blackouts"], body["overrides"]) == (0, None, [], [])


async def test_a_change_is_versioned_and_recorded_as_an_event(api: Api) -> None:
    changed = await api.put(a_policy(), **{"If-Match": '"0"'})
    assert changed.status_code == 200, changed.text
    assert changed.headers["ETag"] == '"1"'
    body = (await api.policy()).json()
    assert body["caps"][1] == {"channel": "sms", "max_messages": 1, "window_days": 1}
    assert (body["version"], body["changed_by"], body["changed_at"]) == (1, "ops-lead", "2026-11-20T10:00:00Z")
    (event,) = await api.events()
    assert event["changed_by"] == "ops-lead"
    assert event["changed"] == ["caps", "blackouts"]
    assert event["policy"]["blackouts"] == [{"day": "2026-12-31", "name": "New Year's Eve"}]

    again = await api.put(a_policy())
    assert again.headers["ETag"] == '"1"'  # the same policy: nothing recorded
    assert len(await api.events()) == 1


async def test_a_stale_if_match_is_412_and_changes_nothing(api: Api) -> None:
    assert (await api.put(a_policy(), **{"If-Match": '"0"'})).status_code == 200
    stale = await api.put(a_policy(quiet_hours=None), **{"If-Match": '"0"'})
    assert stale.status_code == 412
    assert (await api.policy()).json()["quiet_hours"] == {"start": "21:00:00", "end": "08:00:00"}


@pytest.mark.parametrize(("change", "field"), [
    ({"caps": [{"channel": None, "max_messages": -1, "window_days": 7}]}, "max_messages"),
    ({"caps": [{"channel": None, "max_messages": 3, "window_days": 0}]}, "window_days"),
    ({"quiet_hours": {"start": "21:00", "end": "21:00"}}, "quiet_hours"),
    ({"quiet_hours": {"start": "08:30", "end": "08:00"}}, "quiet_hours"),
    ({"caps": [{"channel": "sms", "max_messages": 1, "window_days": 1},
               {"channel": "sms", "max_messages": 2, "window_days": 1}]}, "caps[1]"),
    ({"blackouts": [{"day": "2026-12-31"}, {"day": "2026-12-31"}]}, "blackouts"),
    ({"sla_breach_hold_days": -1}, "sla_breach_hold_days"),
    ({"caps": "3 a week"}, "caps"),
])
async def test_nonsense_is_a_422_problem_and_changes_nothing(api: Api, change: dict[str, Any], field: str) -> None:
    answer = await api.put(a_policy(**change))
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert field in answer.text
    assert (await api.policy()).headers["ETag"] == '"0"'
    assert await api.events() == []


async def test_an_override_is_never_looser_than_the_global_policy(api: Api) -> None:
    created = await api.http.post("/v1/campaigns", json=a_definition_document())
    campaign_id = created.json()["id"]
    looser = {"campaign_id": campaign_id, "caps": [{"channel": "sms", "max_messages": 2, "window_days": 1}]}
    answer = await api.put(a_policy(overrides=[looser]))
    assert answer.status_code == 422
    assert answer.json()["field"] == "overrides[0].caps[0].max_messages"
    loud = {"campaign_id": campaign_id, "quiet_hours": {"start": "23:00", "end": "07:00"}}
    assert (await api.put(a_policy(overrides=[loud]))).json()["field"] == "overrides[0].quiet_hours"
    unknown = {"campaign_id": str(uuid.uuid4()), "caps": []}
    assert (await api.put(a_policy(overrides=[unknown]))).json()["field"] == "overrides[0].campaign_id"
    assert await api.events() == []

    stricter = {"campaign_id": campaign_id, "caps": [{"channel": None, "max_messages": 1, "window_days": 14}],
                "quiet_hours": {"start": "20:00", "end": "09:00"}}
    answer = await api.put(a_policy(overrides=[stricter]))
    assert answer.status_code == 200, answer.text
    assert answer.json()["overrides"][0]["quiet_hours"] == {"start": "20:00:00", "end": "09:00:00"}


async def test_changing_the_policy_needs_admin(api: Api) -> None:
    answer = await api.http.put("/v1/marketing-policy", json=a_policy())
    assert answer.status_code == 403
    assert (await api.policy()).headers["ETag"] == '"0"'


HOLIDAYS = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//holidays//EN\r
BEGIN:VEVENT\r
UID:new-year@test\r
DTSTART;VALUE=DATE:20270101\r
SUMMARY:New Year's Day\r
RRULE:FREQ=YEARLY\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:republic@test\r
DTSTART;VALUE=DATE:20261029\r
SUMMARY:Republic Day\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:eve@test\r
DTSTART;VALUE=DATE:20261231\r
SUMMARY:Their name for the eve\r
END:VEVENT\r
END:VCALENDAR\r
"""


async def test_holidays_from_an_ics_file_become_blackout_days(api: Api) -> None:
    assert (await api.put(a_policy())).status_code == 200
    answer = await api.http.post("/v1/marketing-policy/blackouts/ics", content=HOLIDAYS,
                                 headers=api.as_admin(**{"Content-Type": "text/calendar", "If-Match": '"1"'}))
    assert answer.status_code == 200, answer.text
    assert answer.headers["ETag"] == '"2"'
    blackouts = answer.json()["blackouts"]
    # Republic Day (29 October 2026) is past on 20 November 2026; the eve keeps the name it had;
    # New Year recurs yearly for three years ahead.
    assert blackouts == [{"day": "2026-12-31", "name": "New Year's Eve"},
                         {"day": "2027-01-01", "name": "New Year's Day"},
                         {"day": "2028-01-01", "name": "New Year's Day"},
                         {"day": "2029-01-01", "name": "New Year's Day"}]
    assert (await api.events())[-1]["changed"] == ["blackouts"]


async def test_a_file_that_is_not_a_calendar_is_a_422_and_another_type_a_415(api: Api) -> None:
    broken = await api.http.post("/v1/marketing-policy/blackouts/ics", content=b"BEGIN:VCALENDAR\r\nnonsense",
                                 headers=api.as_admin(**{"Content-Type": "text/calendar"}))
    assert broken.status_code == 422
    assert broken.headers["content-type"].startswith("application/problem+json")
    json_body = await api.http.post("/v1/marketing-policy/blackouts/ics", json={"ics": "x"}, headers=api.as_admin())
    assert json_body.status_code == 415
    assert await api.events() == []
