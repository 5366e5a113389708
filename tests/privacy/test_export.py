"""Right of access across every service (issue 20.1), against the real platform.

A customer registers, orders (two campaigns want to offer the same product: one offer is sent, the
other suppressed with its reason), complains (a ticket answered, transferred and resolved) and
answers an NPS survey with a reason. The data-protection officer asks the customer service for an
export: a job that gathers every service's part through that service's own API, with progress,
ending in one JSON document valid against ``schemas/export/customer-export.json`` and an HTML
rendering. The customer may ask for their own export, not another's.

Coverage: every table with a ``customer_id`` column in every service's database (found through
``information_schema``) must be named by that service's export declaration, either as the section
its rows are in or as not personal with a reason; and a table holding rows about the person must
show them in its section. A migration adding a table with customer data fails here until the export
covers it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import jsonschema_rs
import orjson
import pytest

from services.analytics.application.export import COVERAGE as ANALYTICS
from services.analytics.config import READ_MODEL_SCHEMA, with_search_path
from services.campaigns.application.export import COVERAGE as CAMPAIGNS
from services.customer.application.exports import COVERAGE as CUSTOMER
from services.ticketing.application.export import COVERAGE as TICKETING
from shared.privacy.export import PART_PATH, SERVICES, Coverage, tables_with_customer_id
from shared.testing.plugin import REPO_ROOT
from tests.privacy.calls import expect as _ok
from tests.privacy.calls import fresh_key as _key
from tests.privacy.calls import wait_for as _wait
from tests.privacy.conftest import Platform, in_thread

pytestmark = pytest.mark.timeout(600)

COVERAGES: dict[str, Coverage] = {"customer": CUSTOMER, "ticketing": TICKETING, "campaigns": CAMPAIGNS,
                                  "analytics": ANALYTICS}
SCHEMA = orjson.loads((REPO_ROOT / "schemas" / "export" / "customer-export.json").read_bytes())





@dataclass
class Person:
    customer_id: str
    name: str
    ticket_id: str
    reason: str
    comment: str


def _campaign(http: httpx.Client, campaigns: str, name: str, channel: str) -> str:
    created = _ok(http.post(f"{campaigns}/v1/campaigns", headers=_key(), json={
        "name": name, "objective": "cross_sell", "trigger": {"event_type": "OrderPlaced"},
        "action": {"kind": "offer", "channels": [channel], "template": "descaler",
                   "offer": {"sku": "DESCALER", "discount_pct": 10, "valid_days": 30}},
        "caps": {"per_customer": 1}, "budget": None, "control_group_pct": 0,
    }), 201)
    _ok(http.post(f"{campaigns}/v1/campaigns/{created['id']}/activate", headers={"If-Match": '"1"'}), 200)
    return str(created["id"])


def _someone(platform: Platform, http: httpx.Client) -> Person:
    urls, tag = platform.urls, uuid.uuid4().hex[:8]
    name = f"Export Person {tag}"
    customer = _ok(http.post(f"{urls['customer']}/v1/customers", headers=_key(), json={
        "name": name, "email": f"export.{tag}@example.com", "acquisition_channel": "web",
        "consents": {"email": True, "sms": True},
    }), 201)
    customer_id = str(customer["id"])
    _ok(http.post(f"{urls['customer']}/v1/orders", headers=_key(), json={
        "customer_id": customer_id, "currency": "EUR", "channel": "web",
        "lines": [{"sku": "K-1", "name": "Kettle", "category": "kitchen", "quantity": 1, "unit_price": "39.90"}],
    }), 201)

    def offer_decided() -> bool:
        view = http.get(f"{urls['analytics']}/v1/customers/{customer_id}/timeline", params={"limit": 200})
        return view.status_code == 200 and "OfferSent" in {item["type"] for item in view.json()["items"]}

    # The order's offers are decided before the detractor answer and the complaint below, which would
    # hold every promotion (service recovery) if the engine saw them first.
    _wait(offer_decided, timeout=120, what="the order's offer to be decided")
    reason = f"the kettle {tag} leaks"
    survey = _ok(http.post(f"{urls['campaigns']}/v1/surveys", headers=_key(),
                           json={"customer_id": customer_id, "kind": "nps"}), 201)
    _ok(httpx.post(f"{urls['campaigns']}/v1/surveys/{survey['id']}/responses", timeout=30.0, json={
        "token": survey["response_token"], "score": 4, "reason": reason}), 201)
    ticket = _ok(http.post(f"{urls['ticketing']}/v1/tickets", headers=_key(), json={
        "customer_id": customer_id, "kind": "complaint", "channel": "phone", "priority": "high",
        "subject": "Kettle leaks", "description": "It leaks.", "agent_id": "agent-a"}), 201)
    comment = f"Called back {tag}"
    version = _ok(http.post(f"{urls['ticketing']}/v1/tickets/{ticket['id']}/comments",
                            headers={**_key(), "If-Match": f'"{ticket["version"]}"'},
                            json={"body": comment, "visibility": "public"}), 201)["version"]
    version = _ok(http.post(f"{urls['ticketing']}/v1/tickets/{ticket['id']}/transfer",
                            headers={**_key(), "If-Match": f'"{version}"'},
                            json={"to_agent_id": "agent-b", "reason": "wrong_skill"}), 200)["version"]
    _ok(http.post(f"{urls['ticketing']}/v1/tickets/{ticket['id']}/resolve",
                  headers={**_key(), "If-Match": f'"{version}"'},
                  json={"resolution": "Replaced the kettle", "root_cause": "product_defect"}), 200)
    return Person(customer_id, name, str(ticket["id"]), reason, comment)


@dataclass
class Scenario:
    platform: Platform
    person: Person
    other: Person
    accepted: dict[str, Any]
    seen: list[dict[str, Any]]
    status: dict[str, Any]
    document: dict[str, Any]
    rendering: httpx.Response


def _export(platform: Platform, http: httpx.Client, customer_id: str) -> tuple[dict[str, Any], list[dict[str, Any]],
                                                                             dict[str, Any]]:
    customer = platform.urls["customer"]
    answer = http.post(f"{customer}/v1/customers/{customer_id}/exports")
    accepted = _ok(answer, 202)
    assert answer.headers["location"] == f"/v1/customers/{customer_id}/exports/{accepted['id']}"
    seen: list[dict[str, Any]] = []

    def finished() -> dict[str, Any] | None:
        status = _ok(http.get(customer + answer.headers["location"]), 200)
        seen.append(status)
        return status if status["status"] != "running" else None

    return accepted, seen, _wait(finished, timeout=120, what="the export to finish")


@pytest.fixture(scope="module")
def scenario(privacy_platform: Platform) -> Scenario:
    platform = privacy_platform
    with platform.client() as http:
        for name, channel in (("Descaler by email", "email"), ("Descaler by sms", "sms")):
            _campaign(http, platform.urls["campaigns"], name, channel)
        person, other = _someone(platform, http), _someone(platform, http)

        def analytics_saw_everything() -> bool:
            view = http.get(f"{platform.urls['analytics']}/v1/customers/{person.customer_id}/timeline",
                            params={"limit": 200})
            types = {item["type"] for item in view.json()["items"]} if view.status_code == 200 else set()
            return {"CustomerRegistered", "OrderPlaced", "TicketResolved", "SurveyAnswered", "OfferSent",
                    "MessageSuppressed"} <= types

        _wait(analytics_saw_everything, timeout=120, what="analytics to see the person's every event")
        accepted, seen, status = _export(platform, http, person.customer_id)
        base = f"{platform.urls['customer']}/v1/customers/{person.customer_id}/exports/{accepted['id']}"
        document = _ok(http.get(f"{base}/document"), 200) if status["status"] == "done" else {}
        rendering = http.get(f"{base}/document.html")
    return Scenario(platform, person, other, accepted, seen, status, document, rendering)


def _part(scenario: Scenario, service: str) -> dict[str, Any]:
    (found,) = [p for p in scenario.document["services"] if p["service"] == service]
    return found


def test_the_export_is_a_job_that_reports_progress_per_service(scenario: Scenario) -> None:
    assert scenario.accepted["status"] == "running" and scenario.accepted["progress"]["parts_total"] == 4
    assert scenario.status["status"] == "done", scenario.status
    assert scenario.status["progress"]["parts_done"] == 4
    assert [p["service"] for p in scenario.status["progress"]["parts"]] == list(SERVICES)
    assert all(p["status"] == "done" and p["finished_at"] for p in scenario.status["progress"]["parts"])
    assert scenario.status["document"].endswith("/document") and scenario.status["rendering"].endswith(".html")
    assert scenario.status["requested_by"] == "privacy-tester" and scenario.status["self_service"] is False


def test_the_document_is_valid_against_its_published_schema(scenario: Scenario) -> None:
    jsonschema_rs.validator_for(SCHEMA, validate_formats=True, offline=True).validate(scenario.document)
    assert scenario.document["customer_id"] == scenario.person.customer_id
    assert [p["service"] for p in scenario.document["services"]] == list(SERVICES)
    bad = {**scenario.document, "services": scenario.document["services"][:3]}
    assert not jsonschema_rs.validator_for(SCHEMA, offline=True).is_valid(bad), "the schema must check something"


def test_every_service_part_holds_what_the_service_knows(scenario: Scenario) -> None:
    person = scenario.person
    customer = _part(scenario, "customer")["sections"]
    assert customer["profile"]["name"] == person.name and len(customer["orders"]) == 1
    assert {e["type"] for e in customer["events"]} >= {"CustomerRegistered", "OrderPlaced"}

    (ticket,) = _part(scenario, "ticketing")["sections"]["tickets"]
    history = {h["type"]: h["data"] for h in ticket["history"]}
    assert ticket["id"] == person.ticket_id and ticket["resolution"] == "Replaced the kettle"
    assert history["TicketCommented"]["body"] == person.comment  # the conversation, opened
    assert history["TicketTransferred"]["reason"] == "wrong_skill"
    assert history["TicketResolved"]["root_cause"] == "product_defect"

    campaigns = _part(scenario, "campaigns")["sections"]
    outcomes = sorted((d["outcome"], d["reason"]) for d in campaigns["decisions"])
    assert ("sent", None) in outcomes and ("suppressed", "channel_conflict") in outcomes, outcomes
    assert len(campaigns["offers"]) == 1
    (survey,) = campaigns["surveys"]
    assert survey["score"] == 4 and "token_hash" not in survey and survey["answers"]
    texts = [e["data"].get("text") for e in campaigns["events"] if e["type"] == "SurveyQuestionAnswered"]
    assert person.reason in texts  # the reason, opened with the campaigns service's key

    analytics = _part(scenario, "analytics")["sections"]
    view = analytics["view"]
    assert view["customer_id"] == person.customer_id and view["lifecycle_stage"]["stage"]
    assert analytics["trait_events"] and all(
        {e["event_id"] for e in events} <= {e["event_id"] for e in analytics["events"]}
        for events in analytics["trait_events"].values())
    assert any(events for events in analytics["trait_events"].values()), "the events behind the traits"
    assert len(analytics["survey_answers"]) == 1 and len(analytics["ticket_facts"]) == 1


def test_the_rendering_is_html_a_person_can_read(scenario: Scenario) -> None:
    assert scenario.rendering.status_code == 200
    assert scenario.rendering.headers["content-type"].startswith("text/html")
    page = scenario.rendering.text
    assert page.startswith("<!doctype html>")
    for text in (scenario.person.name, scenario.person.comment, "channel_conflict", "Ticketing", "Analytics"):
        assert text in page, text


def test_every_table_holding_a_customer_id_is_covered_by_the_export(scenario: Scenario) -> None:
    """information_schema against each service's declaration; rows about the person appear in their section."""
    platform, person = scenario.platform, scenario.person

    async def look() -> dict[str, tuple[set[str], dict[str, int]]]:
        found = {}
        for service in SERVICES:
            dsn = platform.dsns[service]
            conn = await asyncpg.connect(with_search_path(dsn, READ_MODEL_SCHEMA) if service == "analytics" else dsn)
            try:
                tables = await tables_with_customer_id(conn)
                counts = {t: await conn.fetchval(f"select count(*) from {t} where customer_id::text = $1",
                                                 person.customer_id) for t in tables}
            finally:
                await conn.close()
            found[service] = (tables, counts)
        return found

    found = in_thread(look())
    for service, (tables, counts) in found.items():
        coverage = COVERAGES[service]
        assert tables, f"{service}: no table with a customer_id found: the search itself is broken"
        assert coverage.missing(tables) == [], (
            f"{service}: tables with a customer_id column the export does not cover; add each to "
            f"services/{service}/application/export{'s' if service == 'customer' else ''}.py COVERAGE "
            f"(the section its rows are in, or not_personal with the reason)")
        assert all(reason.strip() for reason in coverage.not_personal.values())
        part = _part(scenario, service)
        assert part["tables"] == dict(sorted(coverage.exported.items()))
        for table, n in counts.items():
            if n and table in coverage.exported:
                assert part["sections"][coverage.exported[table]], f"{service}.{table} has rows, its section none"
    held = [t for service, (_, counts) in found.items() for t, n in counts.items() if n]
    assert len(held) >= 12, f"the person's data should be in many tables: {held}"


def test_a_customer_can_export_their_own_data_and_nobody_else_s(scenario: Scenario) -> None:
    platform, person = scenario.platform, scenario.person
    own = platform.token("self", customer_id=person.customer_id)
    with platform.client(own) as http:
        _, _, status = _export(platform, http, person.customer_id)
        assert status["status"] == "done" and status["self_service"] is True
        document = _ok(http.get(f"{platform.urls['customer']}{status['document']}"), 200)
        assert document["self_service"] is True and document["customer_id"] == person.customer_id
        refused = http.post(f"{platform.urls['customer']}/v1/customers/{scenario.other.customer_id}/exports")
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
        not_theirs = http.get(f"{platform.urls['customer']}/v1/customers/{scenario.other.customer_id}/exports/"
                              f"{scenario.accepted['id']}")
        assert not_theirs.status_code == 403
        # a part is for services: a customer's token cannot read it directly
        direct = http.get(platform.urls["ticketing"] + PART_PATH.format(customer_id=person.customer_id))
        assert direct.status_code == 403


def test_unknown_customers_and_exports_are_404_and_nothing_is_started(scenario: Scenario) -> None:
    platform, person = scenario.platform, scenario.person
    with platform.client() as http:
        customer = platform.urls["customer"]
        assert http.post(f"{customer}/v1/customers/{uuid.uuid4()}/exports").status_code == 404
        assert http.get(f"{customer}/v1/customers/{person.customer_id}/exports/{uuid.uuid4()}").status_code == 404
        # another customer's export id under this customer is not found either
        other = f"{customer}/v1/customers/{scenario.other.customer_id}/exports/{scenario.accepted['id']}/document"
        assert http.get(other).status_code == 404


def test_an_erasure_deletes_the_export_documents(scenario: Scenario) -> None:
    platform, other = scenario.platform, scenario.other
    with platform.client() as http:
        _, _, status = _export(platform, http, other.customer_id)
        assert status["status"] == "done"
        _ok(http.delete(f"{platform.urls['customer']}/v1/customers/{other.customer_id}"), 204)
        gone = http.get(f"{platform.urls['customer']}{status['document']}")
        assert gone.status_code == 410
        assert _ok(http.get(f"{platform.urls['customer']}/v1/customers/{other.customer_id}/exports/{status['id']}"),
                   200)["status"] == "erased"

    async def documents() -> int:
        conn = await asyncpg.connect(platform.dsns["customer"])
        try:
            return int(await conn.fetchval("select count(*) from customer_exports where customer_id = $1::uuid"
                                           " and document is not null", other.customer_id))
        finally:
            await conn.close()

    assert in_thread(documents()) == 0
