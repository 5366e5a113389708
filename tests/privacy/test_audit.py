"""The audit trail (issue 20.4), against the real platform: who did what, and who saw what.

Different people (each a token subject, as the console's signed-in person is) register a customer,
open and work a ticket, create a campaign, read the profile and the 360, and export the customer's
data. ``GET /v1/audit`` on the customer service answers from the four services' event stores: each
command's events with the person who asked, and each read of personal data as ``PersonalDataViewed``,
in time order, paged, and without the personal data itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from shared.web.auth import mint_token
from tests.privacy.calls import expect as _ok
from tests.privacy.calls import fresh_key as _key
from tests.privacy.calls import wait_for as _wait
from tests.privacy.conftest import Platform

pytestmark = pytest.mark.timeout(600)


@dataclass
class Story:
    platform: Platform
    customer_id: str
    ticket_id: str
    campaign_id: str
    name: str
    email: str


def _as(platform: Platform, subject: str, *scopes: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(platform.settings, subject, scopes)}"}


@pytest.fixture(scope="module")
def story(privacy_platform: Platform) -> Story:
    platform, urls, tag = privacy_platform, privacy_platform.urls, uuid.uuid4().hex[:8]
    name, email = f"Audit Person {tag}", f"audit.{tag}@example.com"
    clerk = _as(platform, "clerk-carla", "customers:write", "customers:read")
    agent = _as(platform, "agent-ayse", "tickets:write", "tickets:read")
    marketer = _as(platform, "marketer-mia", "campaigns:write")
    analyst = _as(platform, "analyst-ali", "analytics:read")
    dpo = _as(platform, "dpo-dana", "admin")
    with httpx.Client(timeout=30.0) as http:
        customer = _ok(http.post(f"{urls['customer']}/v1/customers", headers={**clerk, **_key()}, json={
            "name": name, "email": email, "acquisition_channel": "web", "consents": {"email": True}}), 201)
        customer_id = str(customer["id"])
        ticket = _ok(http.post(f"{urls['ticketing']}/v1/tickets", headers={**agent, **_key()}, json={
            "customer_id": customer_id, "kind": "question", "channel": "phone", "subject": f"Where is {name}'s order",
            "description": f"{name} asks", "agent_id": "agent-ayse"}), 201)
        _ok(http.post(f"{urls['ticketing']}/v1/tickets/{ticket['id']}/comments", headers={**agent, **_key()},
                      json={"body": f"Told {name}", "visibility": "internal"}), 201)
        campaign = _ok(http.post(f"{urls['campaigns']}/v1/campaigns", headers={**marketer, **_key()}, json={
            "name": f"Audit {tag}", "objective": "cross_sell", "trigger": {"event_type": "OrderPlaced"},
            "action": {"kind": "offer", "channels": ["email"], "template": "descaler",
                       "offer": {"sku": "DESCALER", "discount_pct": 10, "valid_days": 30}},
            "caps": {"per_customer": 1}, "budget": None, "control_group_pct": 0}), 201)
        _ok(http.get(f"{urls['customer']}/v1/customers/{customer_id}", headers=clerk), 200)
        _wait(lambda: http.get(f"{urls['analytics']}/v1/customers/{customer_id}/360",
                               headers=analyst).status_code == 200, timeout=120, what="the 360 to be readable")
        answer = http.post(f"{urls['customer']}/v1/customers/{customer_id}/exports", headers=dpo)
        _ok(answer, 202)
        location = urls["customer"] + answer.headers["location"]
        _wait(lambda: _ok(http.get(location, headers=dpo), 200)["status"] == "done", timeout=120,
              what="the export to finish")
        _ok(http.get(f"{location}/document", headers=dpo), 200)
    return Story(platform, customer_id, str(ticket["id"]), str(campaign["id"]), name, email)


def _trail(story: Story, token: dict[str, str] | None = None, **params: Any) -> httpx.Response:
    auditor = token or _as(story.platform, "auditor-aud", "audit:read")
    return httpx.get(f"{story.platform.urls['customer']}/v1/audit", params=params, headers=auditor, timeout=60.0)


def _who_did(entries: list[dict[str, Any]]) -> set[tuple[str, str, str | None]]:
    return {(e["service"], e["event_type"], e["actor"]) for e in entries}


def test_who_did_what_to_a_customer_across_every_service(story: Story) -> None:
    entries = _ok(_trail(story, customer_id=story.customer_id, limit=500), 200)["entries"]
    assert {
        ("customer", "CustomerRegistered", "clerk-carla"),
        ("ticketing", "TicketOpened", "agent-ayse"),
        ("ticketing", "TicketCommented", "agent-ayse"),
        ("customer", "PersonalDataViewed", "clerk-carla"),
        ("analytics", "PersonalDataViewed", "analyst-ali"),
        ("customer", "PersonalDataViewed", "dpo-dana"),
    } <= _who_did(entries)
    assert {e["subject"] for e in entries} == {story.customer_id}
    moments = [(e["occurred_at"], e["event_id"]) for e in entries]
    assert moments == sorted(moments), "oldest first, across services"
    # the 360 is read until the projection has the customer: only the answered reads are recorded
    assert sum(e["event_type"] == "PersonalDataViewed" and e["service"] == "analytics" for e in entries) == 1


def test_the_trail_names_what_was_read_but_never_holds_personal_data(story: Story) -> None:
    answer = _trail(story, customer_id=story.customer_id, limit=500)
    assert story.name not in answer.text and story.email not in answer.text
    assert all(set(e) >= {"occurred_at", "service", "event_type", "stream_id", "actor", "correlation_id"}
               for e in answer.json()["entries"])


def test_a_ticket_and_a_campaign_have_their_own_trails(story: Story) -> None:
    ticket = _ok(_trail(story, ticket_id=story.ticket_id), 200)["entries"]
    assert {("TicketOpened", "agent-ayse"), ("TicketCommented", "agent-ayse")} <= {
        (e["event_type"], e["actor"]) for e in ticket}
    assert {e["stream_id"] for e in ticket} == {story.ticket_id}
    campaign = _ok(_trail(story, campaign_id=story.campaign_id), 200)["entries"]
    assert [(e["service"], e["event_type"], e["actor"]) for e in campaign] == [
        ("campaigns", "CampaignCreated", "marketer-mia")]


def test_what_one_person_did_everywhere(story: Story) -> None:
    mine = _ok(_trail(story, actor="agent-ayse", limit=500), 200)["entries"]
    assert mine and {e["actor"] for e in mine} == {"agent-ayse"}
    assert {e["service"] for e in mine} == {"ticketing"}
    dpo = _ok(_trail(story, actor="dpo-dana", limit=500), 200)["entries"]
    # the export they asked for, and the export document they read
    assert {e["event_type"] for e in dpo} == {"CustomerExportRequested", "PersonalDataViewed"}
    asked = [e for e in dpo if e["event_type"] == "CustomerExportRequested"]
    assert len(asked) == 1 and asked[0]["subject"] == story.customer_id and asked[0]["service"] == "customer"


def test_pages_walk_the_whole_trail_once(story: Story) -> None:
    whole = _ok(_trail(story, customer_id=story.customer_id, limit=500), 200)
    assert whole["next_cursor"] is None
    walked: list[str] = []
    params: dict[str, Any] = {"customer_id": story.customer_id, "limit": 2}
    for _ in range(100):
        page = _ok(_trail(story, **params), 200)
        walked.extend(e["event_id"] for e in page["entries"])
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert walked == [e["event_id"] for e in whole["entries"]]
    assert len(walked) >= 6


def test_only_auditors_read_it_and_bad_queries_are_problems(story: Story) -> None:
    analyst = _as(story.platform, "analyst-ali", "analytics:read", "customers:read")
    refused = _trail(story, analyst, customer_id=story.customer_id)
    assert refused.status_code == 403 and story.customer_id not in refused.text
    for params in ({}, {"customer_id": story.customer_id, "cursor": "not-a-cursor"},
                   {"actor": "x", "since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"},
                   {"actor": "x", "since": "2030-01-01T00:00:00"}):
        answer = _trail(story, **params)
        assert answer.status_code == 422, (params, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_control_character_in_the_actor_is_a_problem_not_a_crash(story: Story) -> None:
    answer = _trail(story, actor="agent\x00ayse")
    assert answer.status_code == 422 and answer.headers["content-type"].startswith("application/problem+json")
