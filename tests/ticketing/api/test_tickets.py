"""Tickets over HTTP against real PostgreSQL: answers, events queued for ticketing.events, every 4xx."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from uuid import UUID

from shared.ids import new_id
from shared.settings import PlatformSettings
from tests.ticketing.api.conftest import START, TicketingService, running_service, ticketing_settings


async def test_opening_a_complaint_answers_201_and_queues_opened_filed_and_assigned(
    ticketing: TicketingService,
) -> None:
    customer_id = await ticketing.a_known_customer()
    response = await ticketing.client.post(
        "/v1/tickets",
        json={
            "customer_id": customer_id,
            "kind": "complaint",
            "channel": "phone",
            "subject": "Broken kettle",
            "description": "Arrived broken",
            "priority": "high",
            "agent_id": "agent-ayse",
        },
        headers=ticketing.staff,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["customer_id"] == customer_id
    assert (body["kind"], body["status"], body["priority"], body["owner_id"]) == (
        "complaint",
        "in_progress",
        "high",
        "agent-ayse",
    )
    assert (body["transfer_count"], body["escalation_level"], body["version"]) == (0, 0, 3)
    assert body["first_response_due"] == (START + timedelta(hours=4)).isoformat().replace("+00:00", "Z")
    assert body["resolution_due"] == (START + timedelta(hours=24)).isoformat().replace("+00:00", "Z")
    assert body["customer_verified"] is True
    assert response.headers["ETag"] == '"3"'
    assert response.headers["Location"] == f"/v1/tickets/{body['id']}"

    events = await ticketing.outbox(body["id"])
    assert [e["type"] for e in events] == ["TicketOpened", "ComplaintFiled", "TicketAssigned"]
    for event in events:
        assert event["key"] == customer_id
        assert event["headers"]["ce_subject"] == customer_id
        assert event["headers"]["ce_streamid"] == body["id"]
        assert event["headers"]["ce_source"] == "/customer360/ticketing"
    opened = events[0]["data"]
    assert opened["subject"].startswith("enc:v1:") and opened["details"].startswith("enc:v1:")


async def test_a_ticket_nobody_took_goes_to_the_key_accounts_manager(ticketing: TicketingService) -> None:
    from shared.contracts.customer import AccountManagerAssigned

    customer_id = await ticketing.a_known_customer("dedicated_assistance")
    await ticketing.customer_events(
        AccountManagerAssigned(customer_id=UUID(customer_id), account_manager_id="am-kemal", assigned_at=START)
    )
    ticket = await ticketing.open(customer_id=customer_id, priority="high")
    assert (ticket["owner_id"], ticket["status"], ticket["customer_tier"]) == (
        "am-kemal",
        "in_progress",
        "dedicated_assistance",
    )
    assert ticket["first_response_due"] == (START + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assigned = (await ticketing.outbox(ticket["id"]))[-1]
    assert (assigned["type"], assigned["data"]["routing"]) == ("TicketAssigned", "account_manager")


async def test_the_same_idempotency_key_and_body_open_one_ticket(ticketing: TicketingService) -> None:
    body = {
        "customer_id": await ticketing.a_known_customer(),
        "kind": "question",
        "channel": "web",
        "subject": "Invoice copy",
        "description": "Please send it again",
    }
    headers = {**ticketing.staff, "Idempotency-Key": f"k-{new_id()}"}
    first = await ticketing.client.post("/v1/tickets", json=body, headers=headers)
    second = await ticketing.client.post("/v1/tickets", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await ticketing.pool.fetchval("select count(*) from tickets") == 1
    other = await ticketing.client.post("/v1/tickets", json={**body, "subject": "else"}, headers=headers)
    assert other.status_code == 422


async def test_bad_input_is_a_4xx_problem_that_changes_nothing(ticketing: TicketingService) -> None:
    customer_id = await ticketing.a_known_customer()
    good = {"customer_id": customer_id, "kind": "question", "channel": "web", "subject": "s", "description": "d"}
    cases = [
        ({**good, "kind": "rant"}, 422),
        ({**good, "priority": "asap"}, 422),
        ({**good, "customer_id": "not-a-uuid"}, 422),
        ({k: v for k, v in good.items() if k != "subject"}, 422),
        ({**good, "subject": ""}, 422),
        ({**good, "unexpected": 1}, 422),
    ]
    for body, status in cases:
        response = await ticketing.client.post("/v1/tickets", json=body, headers=ticketing.staff)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    no_json = await ticketing.client.post("/v1/tickets", content=b"{", headers=ticketing.staff)
    assert no_json.status_code in (400, 422)
    assert (await ticketing.client.post("/v1/tickets", json=good)).status_code == 401
    reader = ticketing.token("tickets:read")
    assert (await ticketing.client.post("/v1/tickets", json=good, headers=reader)).status_code == 403
    assert await ticketing.pool.fetchval("select count(*) from events where stream_type = 'ticket'") == 0


async def test_unknown_tickets_are_404_and_bad_ids_422(ticketing: TicketingService) -> None:
    missing = await ticketing.client.get(f"/v1/tickets/{new_id()}", headers=ticketing.staff)
    assert missing.status_code == 404
    assert (await ticketing.act(str(new_id()), "close")).status_code == 404
    assert (await ticketing.client.get("/v1/tickets/42", headers=ticketing.staff)).status_code == 422


async def test_assigning_an_owned_ticket_is_409_and_an_unowned_one_starts_work(ticketing: TicketingService) -> None:
    owned = await ticketing.open(agent_id="agent-ayse")
    conflict = await ticketing.act(owned["id"], "assign", {"agent_id": "agent-bora"})
    assert conflict.status_code == 409
    assert conflict.json()["current_status"] == "in_progress"
    unowned = await ticketing.open()
    assert unowned["status"] == "open" and unowned["owner_id"] is None
    assigned = await ticketing.act(unowned["id"], "assign", {"agent_id": "agent-bora"})
    assert assigned.status_code == 200, assigned.text
    assert (assigned.json()["owner_id"], assigned.json()["status"]) == ("agent-bora", "in_progress")


async def test_a_transfer_needs_a_known_reason_is_counted_and_published(ticketing: TicketingService) -> None:
    ticket = await ticketing.open(agent_id="agent-ayse")
    bad = await ticketing.act(ticket["id"], "transfer", {"to_agent_id": "agent-bora", "reason": "bored"})
    assert bad.status_code == 422 and "reason" in bad.json()["detail"]
    missing = await ticketing.act(ticket["id"], "transfer", {"to_agent_id": "agent-bora"})
    assert missing.status_code == 422
    moved = await ticketing.act(
        ticket["id"], "transfer", {"to_agent_id": "agent-bora", "reason": "wrong_skill", "note": "billing issue"}
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["owner_id"], moved.json()["transfer_count"]) == ("agent-bora", 1)
    transferred = (await ticketing.outbox(ticket["id"]))[-1]
    assert transferred["type"] == "TicketTransferred"
    data = transferred["data"]
    assert (data["from_agent_id"], data["to_agent_id"], data["reason"], data["transfer_count"]) == (
        "agent-ayse",
        "agent-bora",
        "wrong_skill",
        1,
    )
    assert data["note"].startswith("enc:v1:")
    metrics = (await ticketing.client.get("/metrics")).text
    assert 'ticket_transfers_total{reason="wrong_skill"} 1.0' in metrics


async def test_if_match_guards_updates(ticketing: TicketingService) -> None:
    ticket = await ticketing.open(agent_id="agent-ayse")
    stale = await ticketing.act(ticket["id"], "escalate", headers={**ticketing.staff, "If-Match": '"1"'})
    assert stale.status_code == 412
    bad = await ticketing.act(ticket["id"], "escalate", headers={**ticketing.staff, "If-Match": "yesterday"})
    assert bad.status_code == 400
    ok = await ticketing.act(
        ticket["id"], "escalate", {"note": "VIP"}, headers={**ticketing.staff, "If-Match": f'"{ticket["version"]}"'}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["escalation_level"] == 1
    assert ok.headers["ETag"] == f'"{ticket["version"] + 1}"'


async def test_the_first_public_reply_is_the_first_response_and_internal_notes_stay_internal(
    ticketing: TicketingService,
) -> None:
    ticket = await ticketing.open(agent_id="agent-ayse")
    ticketing.clock.advance(timedelta(minutes=10))
    note = await ticketing.act(ticket["id"], "comments", {"body": "check warehouse", "visibility": "internal"})
    assert note.status_code == 201 and note.json()["first_responded_at"] is None
    ticketing.clock.advance(timedelta(minutes=20))
    reply = await ticketing.act(ticket["id"], "comments", {"body": "We are on it", "visibility": "public"})
    assert reply.json()["first_responded_at"] == (START + timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    call = await ticketing.act(ticket["id"], "contacts", {"method": "call", "summary": "Called back"})
    assert call.status_code == 201, call.text

    staff_view = (await ticketing.client.get(f"/v1/tickets/{ticket['id']}", headers=ticketing.staff)).json()
    comments = [h for h in staff_view["history"] if h["type"] == "TicketCommented"]
    assert [(c["data"]["visibility"], c["data"]["body"], c["data"]["first_response"]) for c in comments] == [
        ("internal", "check warehouse", False),
        ("public", "We are on it", True),
    ]
    assert staff_view["history"][-1]["type"] == "CustomerContacted"

    own = ticketing.token("self", customer_id=ticket["customer_id"], subject="customer")
    customer_view = (await ticketing.client.get(f"/v1/tickets/{ticket['id']}", headers=own)).json()
    assert [h["data"]["body"] for h in customer_view["history"] if h["type"] == "TicketCommented"] == ["We are on it"]


async def test_the_status_machine_over_http(ticketing: TicketingService) -> None:
    ticket = await ticketing.open(agent_id="agent-ayse")
    tid = ticket["id"]
    closing_early = await ticketing.act(tid, "close")
    assert closing_early.status_code == 409
    assert closing_early.json()["current_status"] == "in_progress"
    assert "in_progress" in closing_early.json()["detail"]
    assert (await ticketing.act(tid, "wait-for-customer")).json()["status"] == "waiting_customer"
    assert (await ticketing.act(tid, "wait-for-customer")).status_code == 409
    assert (await ticketing.act(tid, "resume")).json()["status"] == "in_progress"
    resolved = await ticketing.act(tid, "resolve", {"resolution": "Reshipped"})
    assert resolved.json()["status"] == "resolved", resolved.text
    assert (await ticketing.act(tid, "reopen", {"reason": "still broken"})).json()["status"] == "reopened"
    assert (await ticketing.act(tid, "resume")).json()["status"] == "in_progress"
    assert (await ticketing.act(tid, "resolve", {"resolution": "Refunded"})).json()["status"] == "resolved"
    closed = await ticketing.act(tid, "close")
    assert closed.json()["status"] == "closed"
    assert (await ticketing.act(tid, "comments", {"body": "late"})).status_code == 409
    assert await ticketing.types(tid) == [
        "TicketOpened",
        "TicketAssigned",
        "TicketWaitingOnCustomer",
        "TicketResumed",
        "TicketResolved",
        "TicketReopened",
        "TicketResumed",
        "TicketResolved",
        "TicketClosed",
    ]


async def test_a_complaint_resolves_only_with_a_root_cause_and_reports_kpis(ticketing: TicketingService) -> None:
    ticket = await ticketing.open(kind="complaint", agent_id="agent-ayse")
    ticketing.clock.advance(timedelta(minutes=15))
    await ticketing.act(ticket["id"], "comments", {"body": "Sorry! Replacing it.", "visibility": "public"})
    ticketing.clock.advance(timedelta(hours=2))
    missing = await ticketing.act(ticket["id"], "resolve", {"resolution": "Replaced"})
    assert missing.status_code == 422 and "root_cause" in missing.json()["detail"]
    unknown = await ticketing.act(ticket["id"], "resolve", {"resolution": "Replaced", "root_cause": "gremlins"})
    assert unknown.status_code == 422
    resolved = await ticketing.act(ticket["id"], "resolve", {"resolution": "Replaced", "root_cause": "product_defect"})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["root_cause"] == "product_defect"
    event = (await ticketing.outbox(ticket["id"]))[-1]
    assert event["type"] == "TicketResolved"
    data = event["data"]
    assert (data["time_to_first_response_seconds"], data["time_to_resolve_seconds"]) == (900, 900 + 7200)
    assert (data["transfer_count"], data["first_contact_resolution"], data["root_cause"]) == (0, True, "product_defect")
    assert data["resolution"].startswith("enc:v1:")


async def test_reopening_after_the_window_is_409(ticketing: TicketingService) -> None:
    ticket = await ticketing.open(agent_id="agent-ayse")
    await ticketing.act(ticket["id"], "resolve", {"resolution": "Done"})
    ticketing.clock.advance(timedelta(days=15))
    late = await ticketing.act(ticket["id"], "reopen")
    assert late.status_code == 409 and "window" in late.json()["detail"]


async def test_the_queue_lists_what_breaches_next_first_with_filters_and_cursor(ticketing: TicketingService) -> None:
    customer_id = await ticketing.a_known_customer()
    low = await ticketing.open(customer_id=customer_id, priority="low", agent_id="agent-ayse")
    urgent = await ticketing.open(customer_id=customer_id, priority="urgent", agent_id="agent-ayse")
    normal = await ticketing.open(customer_id=customer_id, priority="normal", agent_id="agent-bora")
    other = await ticketing.open(priority="urgent")
    url = f"/v1/tickets?customer_id={customer_id}&limit=2"
    first = (await ticketing.client.get(url, headers=ticketing.staff)).json()
    assert [t["id"] for t in first["items"]] == [urgent["id"], normal["id"]]
    assert first["next_cursor"]
    second = (await ticketing.client.get(f"{url}&cursor={first['next_cursor']}", headers=ticketing.staff)).json()
    assert [t["id"] for t in second["items"]] == [low["id"]]
    assert second["next_cursor"] is None
    mine = (await ticketing.client.get("/v1/tickets?owner_id=agent-ayse", headers=ticketing.staff)).json()
    assert {t["id"] for t in mine["items"]} == {low["id"], urgent["id"]}
    unowned = (await ticketing.client.get("/v1/tickets?status=open", headers=ticketing.staff)).json()
    assert [t["id"] for t in unowned["items"]] == [other["id"]]
    newest = (await ticketing.client.get("/v1/tickets?sort=newest&limit=1", headers=ticketing.staff)).json()
    assert newest["items"][0]["id"] == other["id"]
    bad_cursor = await ticketing.client.get("/v1/tickets?cursor=nonsense", headers=ticketing.staff)
    assert bad_cursor.status_code == 422
    assert (await ticketing.client.get("/v1/tickets?limit=0", headers=ticketing.staff)).status_code == 422
    assert (await ticketing.client.get("/v1/tickets?status=lost", headers=ticketing.staff)).status_code == 422


async def test_self_service_sees_and_opens_only_its_own_tickets(ticketing: TicketingService) -> None:
    mine_id = await ticketing.a_known_customer()
    theirs = await ticketing.open()
    own = ticketing.token("self", customer_id=mine_id, subject="customer")
    opened = await ticketing.client.post(
        "/v1/tickets",
        json={
            "customer_id": mine_id,
            "kind": "request",
            "channel": "web",
            "subject": "Address",
            "description": "Change my address",
            "agent_id": "agent-x",
        },
        headers=own,
    )
    assert opened.status_code == 201, opened.text
    assert opened.json()["owner_id"] is None, "a customer cannot pick the owner"
    for_someone_else = await ticketing.client.post(
        "/v1/tickets",
        json={
            "customer_id": theirs["customer_id"],
            "kind": "request",
            "channel": "web",
            "subject": "x",
            "description": "y",
        },
        headers=own,
    )
    assert for_someone_else.status_code == 403
    assert (await ticketing.client.get(f"/v1/tickets/{theirs['id']}", headers=own)).status_code == 404
    listed = (await ticketing.client.get("/v1/tickets", headers=own)).json()
    assert [t["id"] for t in listed["items"]] == [opened.json()["id"]]
    assert (await ticketing.act(theirs["id"], "close", headers=own)).status_code == 403


async def test_finished_tickets_sort_last_and_still_paginate(ticketing: TicketingService) -> None:
    customer_id = await ticketing.a_known_customer()
    done = []
    for _ in range(3):
        ticket = await ticketing.open(customer_id=customer_id, agent_id="agent-ayse")
        await ticketing.act(ticket["id"], "resolve", {"resolution": "ok"})
        done.append(ticket["id"])
    waiting = await ticketing.open(customer_id=customer_id, agent_id="agent-ayse")
    await ticketing.act(waiting["id"], "wait-for-customer")
    active = await ticketing.open(customer_id=customer_id, agent_id="agent-ayse", priority="low")
    seen, cursor = [], None
    while True:
        url = f"/v1/tickets?customer_id={customer_id}&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await ticketing.client.get(url, headers=ticketing.staff)).json()
        seen += [(t["id"], t["next_due_at"]) for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen[0] == (active["id"], active["first_response_due"])
    assert {i for i, _ in seen[1:]} == {waiting["id"], *done}
    assert all(due is None for _, due in seen[1:])
    assert len(seen) == 5


# Every ticket action with a body it accepts, and bodies it must refuse with 422.
ACTIONS: dict[str, tuple[dict[str, object] | None, list[dict[str, object]]]] = {
    "assign": ({"agent_id": "agent-bora"}, [{}, {"agent_id": ""}, {"agent_id": "two words"}]),
    "transfer": (
        {"to_agent_id": "agent-bora", "reason": "wrong_skill"},
        [{"to_agent_id": "agent-bora"}, {"reason": "wrong_skill"}, {"to_agent_id": "b", "reason": "x" * 51}],
    ),
    "comments": ({"body": "hello"}, [{}, {"body": ""}, {"body": "x", "visibility": "secret"}]),
    "contacts": ({"method": "call"}, [{}, {"method": "pigeon"}, {"method": "call", "direction": "sideways"}]),
    "wait-for-customer": (None, []),
    "resume": (None, []),
    "escalate": (None, [{"note": "x" * 2001}, {"level": 5}]),
    "resolve": ({"resolution": "done"}, [{}, {"resolution": ""}, {"resolution": "ok", "root_cause": "x" * 51}]),
    "reopen": (None, [{"reason": "x" * 2001}, {"why": "again"}]),
    "close": (None, []),
}


def _problem(response: object, status: int) -> None:
    import httpx

    assert isinstance(response, httpx.Response)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    assert response.json()["status"] == status


async def test_every_action_answers_its_4xx_as_problems_and_changes_nothing(ticketing: TicketingService) -> None:
    ticket = await ticketing.open(agent_id="agent-ayse")
    tid = ticket["id"]
    reader = ticketing.token("tickets:read")
    for action, (good, bad_bodies) in ACTIONS.items():
        _problem(await ticketing.act(str(new_id()), action, good), 404)
        _problem(await ticketing.act(tid, action, good, headers={}), 401)
        _problem(await ticketing.act(tid, action, good, headers=reader), 403)
        stale = {**ticketing.staff, "If-Match": '"1"'}
        _problem(await ticketing.act(tid, action, good, headers=stale), 412)
        _problem(await ticketing.act(tid, action, good, headers={**ticketing.staff, "If-Match": "v2"}), 400)
        for body in bad_bodies:
            response = await ticketing.act(tid, action, body)
            assert response.status_code == 422, (action, body, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        _problem(await ticketing.act("not-a-uuid", action, good), 422)
    assert await ticketing.types(tid) == ["TicketOpened", "TicketAssigned"]
    assert (await ticketing.client.get(f"/v1/tickets/{tid}", headers=ticketing.staff)).json()["version"] == 2


async def test_every_action_on_a_closed_ticket_is_409_naming_closed(ticketing: TicketingService) -> None:
    ticket = await ticketing.open(agent_id="agent-ayse")
    await ticketing.act(ticket["id"], "resolve", {"resolution": "done"})
    assert (await ticketing.act(ticket["id"], "close")).status_code == 200
    for action, (good, _) in ACTIONS.items():
        response = await ticketing.act(ticket["id"], action, good)
        _problem(response, 409)
        assert response.json()["current_status"] == "closed", action
        assert "closed" in response.json()["detail"], action
    assert (await ticketing.types(ticket["id"]))[-1] == "TicketClosed"


async def test_reads_and_back_testing_refuse_callers_without_the_right_token(ticketing: TicketingService) -> None:
    ticket = await ticketing.open()
    writer_only = ticketing.token("tickets:write")
    someone = ticketing.token("self", customer_id=str(new_id()), subject="customer")
    policy = {p: {"first_response_minutes": 60, "resolution_minutes": 600} for p in ("low", "normal", "high", "urgent")}
    simulate = {"policy": {"tiers": {"standard": policy}}}
    _problem(await ticketing.client.get("/v1/tickets"), 401)
    _problem(await ticketing.client.get(f"/v1/tickets/{ticket['id']}", headers=writer_only), 403)
    _problem(await ticketing.client.get("/v1/tickets", headers={"Authorization": "Bearer forged"}), 401)
    _problem(await ticketing.client.post("/v1/sla-policies/simulate", json=simulate), 401)
    _problem(await ticketing.client.post("/v1/sla-policies/simulate", json=simulate, headers=someone), 403)
    _problem(await ticketing.client.get("/v1/ticket-settings", headers=someone), 403)
    _problem(await ticketing.client.get(f"/v1/tickets/{ticket['id']}", headers=someone), 404)
    _problem(await ticketing.client.post("/v1/sla-policies/simulate", json={}, headers=ticketing.staff), 422)
    negative = {
        "policy": {"tiers": {"standard": {**policy, "low": {"first_response_minutes": 0, "resolution_minutes": 5}}}}
    }
    _problem(await ticketing.client.post("/v1/sla-policies/simulate", json=negative, headers=ticketing.staff), 422)
    unknown_priority = {"policy": {"tiers": {"standard": {**policy, "asap": policy["low"]}}}}
    _problem(
        await ticketing.client.post("/v1/sla-policies/simulate", json=unknown_priority, headers=ticketing.staff), 422
    )
    for query in ("kind=rant", "priority=asap", "breached=perhaps", "customer_id=42", "sort=oldest", "limit=201"):
        _problem(await ticketing.client.get(f"/v1/tickets?{query}", headers=ticketing.staff), 422)


async def test_the_queue_filters_on_kind_and_priority(ticketing: TicketingService) -> None:
    customer_id = await ticketing.a_known_customer()
    complaint = await ticketing.open(customer_id=customer_id, kind="complaint", priority="high", agent_id="agent-ayse")
    question = await ticketing.open(customer_id=customer_id, kind="question", priority="high", agent_id="agent-ayse")
    request = await ticketing.open(customer_id=customer_id, kind="request", priority="low", agent_id="agent-ayse")

    async def ids(query: str) -> list[str]:
        page = await ticketing.client.get(f"/v1/tickets?customer_id={customer_id}&{query}", headers=ticketing.staff)
        assert page.status_code == 200, page.text
        return [t["id"] for t in page.json()["items"]]

    assert await ids("kind=complaint") == [complaint["id"]]
    assert await ids("priority=high") == [complaint["id"], question["id"]]
    assert await ids("priority=low&kind=request") == [request["id"]]
    assert await ids("priority=low&kind=complaint") == []
    assert await ids("status=in_progress&status=resolved&kind=question") == [question["id"]]
    assert await ids("breached=false&priority=low") == [request["id"]]


async def test_a_whole_ticket_life_reaches_the_ticketing_events_topic_in_order(
    ticketing: TicketingService, platform_topics_created: object
) -> None:
    import asyncio

    from shared.testing.kafka import drain_outbox, read_topic

    ticket = await ticketing.open(kind="complaint", agent_id="agent-ayse", priority="high")
    tid = ticket["id"]
    steps: list[tuple[str, dict[str, object] | None]] = [
        ("transfer", {"to_agent_id": "agent-bora", "reason": "wrong_skill", "note": "billing"}),
        ("comments", {"body": "We are on it", "visibility": "public"}),
        ("contacts", {"method": "call", "summary": "called back"}),
        ("wait-for-customer", None),
        ("resume", None),
        ("escalate", {"note": "angry"}),
        ("resolve", {"resolution": "Refunded", "root_cause": "billing_error"}),
        ("reopen", {"reason": "charged again"}),
        ("resume", None),
        ("resolve", {"resolution": "Refunded twice", "root_cause": "billing_error"}),
        ("close", None),
    ]
    for action, body in steps:
        ticketing.clock.advance(timedelta(minutes=10))
        response = await ticketing.act(tid, action, body)
        assert response.status_code in (200, 201), (action, response.text)

    expected = [
        "TicketOpened",
        "ComplaintFiled",
        "TicketAssigned",
        "TicketTransferred",
        "TicketCommented",
        "CustomerContacted",
        "TicketWaitingOnCustomer",
        "TicketResumed",
        "TicketEscalated",
        "TicketResolved",
        "TicketReopened",
        "TicketResumed",
        "TicketResolved",
        "TicketClosed",
    ]
    assert await drain_outbox(ticketing.dsn, ticketing.settings) == len(expected)
    topic = ticketing.settings.topic("ticketing.events")
    records = await asyncio.to_thread(
        read_topic, ticketing.settings.kafka_bootstrap_servers, topic, expected=len(expected)
    )
    records.sort(key=lambda r: int(r.headers["ce_streamversion"]))
    assert [r.headers["ce_type"].split(".")[2] for r in records] == expected
    assert {r.key for r in records} == {ticket["customer_id"].encode()}
    assert {r.partition for r in records} == {records[0].partition}, "one customer, one partition, in order"
    assert [r.offset for r in records] == sorted(r.offset for r in records)
    first_resolved, last_resolved = records[9].value, records[-2].value
    # every step 10 minutes apart: first reply at +20 min, 10 min waiting on the customer
    assert (first_resolved["time_to_first_response_seconds"], first_resolved["time_to_resolve_seconds"]) == (
        1200,
        3600,
    )
    assert (last_resolved["time_to_first_response_seconds"], last_resolved["time_to_resolve_seconds"]) == (1200, 5400)
    assert (last_resolved["transfer_count"], last_resolved["first_contact_resolution"]) == (1, False)
    assert (last_resolved["root_cause"], last_resolved["escalation_level"]) == ("billing_error", 1)
    assert last_resolved["resolution"].startswith("enc:v1:")


async def test_a_deployment_with_its_own_lists_window_and_policy_enforces_them(
    make_database: Callable[..., Awaitable[str]], platform_settings: PlatformSettings
) -> None:
    dsn = await make_database("ticketing")
    table = {
        "standard": {"low": (600, 6000), "normal": (30, 300), "high": (60, 600), "urgent": (10, 100)},
        "dedicated_assistance": {"normal": (5, 50)},
    }
    settings = ticketing_settings(
        platform_settings,
        dsn,
        ticketing_transfer_reasons=["language", "other"],
        ticketing_root_causes=["courier"],
        ticketing_reopen_window_days=1,
        ticketing_sla_policy=table,
    )
    async with running_service(settings) as service:
        described = (await service.client.get("/v1/ticket-settings", headers=service.staff)).json()
        assert (described["transfer_reasons"], described["root_causes"], described["reopen_window_days"]) == (
            ["language", "other"],
            ["courier"],
            1,
        )
        ticket = await service.open(kind="complaint", agent_id="agent-ayse")
        assert ticket["first_response_due"] == "2026-03-02T09:30:00Z"
        key_account = await service.open(customer_id=await service.a_known_customer("dedicated_assistance"))
        assert key_account["first_response_due"] == "2026-03-02T09:05:00Z"

        default_reason = await service.act(ticket["id"], "transfer", {"to_agent_id": "b", "reason": "wrong_skill"})
        assert default_reason.status_code == 422 and default_reason.json()["allowed"] == ["language", "other"]
        moved = await service.act(ticket["id"], "transfer", {"to_agent_id": "b", "reason": "language"})
        assert moved.status_code == 200, moved.text
        metrics = (await service.client.get("/metrics")).text
        assert 'ticket_transfers_total{reason="language"} 1.0' in metrics
        assert 'ticket_transfers_total{reason="wrong_skill"}' not in metrics

        default_cause = await service.act(ticket["id"], "resolve", {"resolution": "x", "root_cause": "product_defect"})
        assert default_cause.status_code == 422
        assert (
            await service.act(ticket["id"], "resolve", {"resolution": "x", "root_cause": "courier"})
        ).status_code == 200
        service.clock.advance(timedelta(hours=23))
        assert (await service.act(ticket["id"], "reopen")).status_code == 200
        await service.act(ticket["id"], "resume")
        await service.act(ticket["id"], "resolve", {"resolution": "y", "root_cause": "courier"})
        service.clock.advance(timedelta(days=1, seconds=1))
        late = await service.act(ticket["id"], "reopen")
        assert late.status_code == 409 and late.json()["current_status"] == "resolved"


async def test_manual_escalation_goes_one_level_up_each_time_and_is_counted(ticketing: TicketingService) -> None:
    ticket = await ticketing.open(agent_id="agent-ayse")
    first = await ticketing.act(ticket["id"], "escalate", {"note": "VIP customer"})
    second = await ticketing.act(ticket["id"], "escalate")
    assert (first.json()["escalation_level"], second.json()["escalation_level"]) == (1, 2)
    escalations = [e["data"] for e in await ticketing.outbox(ticket["id"]) if e["type"] == "TicketEscalated"]
    assert [(e["level"], e["previous_level"], e["trigger"], e["escalated_by"]) for e in escalations] == [
        (1, 0, "manual", "agent-ayse"),
        (2, 1, "manual", "agent-ayse"),
    ]
    assert escalations[0]["note"].startswith("enc:v1:")
    assert "ticket_manual_escalations_total 2.0" in (await ticketing.client.get("/metrics")).text


async def test_the_customers_own_reply_resumes_a_ticket_waiting_on_them(ticketing: TicketingService) -> None:
    ticket = await ticketing.open(agent_id="agent-ayse", priority="urgent")
    await ticketing.act(ticket["id"], "wait-for-customer")
    ticketing.clock.advance(timedelta(hours=3))
    own = ticketing.token("self", customer_id=ticket["customer_id"], subject="customer")
    reply = await ticketing.act(
        ticket["id"], "comments", {"body": "Here is the photo", "visibility": "internal"}, headers=own
    )
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert (body["status"], body["first_responded_at"]) == ("in_progress", None), "a customer's words are no response"
    assert body["first_response_due"] == "2026-03-02T13:00:00Z", "1 h target moved by 3 h of waiting"
    commented = next(e for e in await ticketing.outbox(ticket["id"]) if e["type"] == "TicketCommented")["data"]
    assert (commented["author_type"], commented["visibility"], commented["first_response"]) == (
        "customer",
        "public",
        False,
    )
    assert (await ticketing.types(ticket["id"]))[-1] == "TicketResumed"


async def test_the_customer_does_not_read_the_staffs_notes_in_their_ticket_history(ticketing: TicketingService) -> None:
    ticket = await ticketing.open(agent_id="agent-ayse")
    await ticketing.act(ticket["id"], "transfer", {"to_agent_id": "agent-bora", "reason": "other", "note": "rude"})
    await ticketing.act(ticket["id"], "escalate", {"note": "threatens to sue"})
    await ticketing.act(ticket["id"], "contacts", {"method": "call", "summary": "shouted at us"})
    await ticketing.act(ticket["id"], "comments", {"body": "We are sorry", "visibility": "public"})
    notes = {"TicketTransferred": "note", "TicketEscalated": "note", "CustomerContacted": "summary"}

    async def history(headers: dict[str, str]) -> dict[str, object]:
        view = (await ticketing.client.get(f"/v1/tickets/{ticket['id']}", headers=headers)).json()
        return {h["type"]: h["data"] for h in view["history"]}

    staff = await history(ticketing.staff)
    assert [staff[kind][field] for kind, field in notes.items()] == ["rude", "threatens to sue", "shouted at us"]
    own = await history(ticketing.token("self", customer_id=ticket["customer_id"], subject="customer"))
    assert [own[kind][field] for kind, field in notes.items()] == [None, None, None]
    assert own["TicketCommented"]["body"] == "We are sorry"
    assert own["TicketTransferred"]["reason"] == "other", "that it moved, and why, is no secret"
