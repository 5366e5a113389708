"""Seed 004 over HTTP against real PostgreSQL: an unowned ticket belongs to the first agent who talks to the customer.

Checks the answer, the events queued in the outbox (for ``ticketing.events``), the owner's queue and
the metrics.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

from shared.ids import new_id
from tests.ticketing.api.conftest import START, TicketingService


def _iso(delta: timedelta) -> str:
    return (START + delta).isoformat().replace("+00:00", "Z")


async def _metric(ticketing: TicketingService, name: str, **labels: str) -> float | None:
    """The sample's value on /metrics, or None when the series does not exist."""
    text = (await ticketing.client.get("/metrics")).text
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    series = f"{name}{{{wanted}}}" if labels else name
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


async def _queue(ticketing: TicketingService, query: str) -> list[str]:
    page = await ticketing.client.get(f"/v1/tickets?{query}", headers=ticketing.staff)
    assert page.status_code == 200, page.text
    return [t["id"] for t in page.json()["items"]]


async def _assignments(ticketing: TicketingService, ticket_id: str) -> list[dict[str, Any]]:
    return [e for e in await ticketing.outbox(ticket_id) if e["type"] == "TicketAssigned"]


async def test_the_first_public_agent_reply_owns_an_unowned_web_ticket(ticketing: TicketingService) -> None:
    ticket = await ticketing.open(channel="web")
    tid = ticket["id"]
    assert (ticket["owner_id"], ticket["status"], ticket["opened_by"], ticket["version"]) == (None, "open", None, 1)
    bora, cem = ticketing.token(subject="agent-bora"), ticketing.token(subject="agent-cem")

    ticketing.clock.advance(timedelta(minutes=5))
    note = await ticketing.act(tid, "comments", {"body": "checking stock", "visibility": "internal"}, headers=cem)
    assert note.status_code == 201, note.text
    assert (note.json()["owner_id"], note.json()["status"]) == (None, "open"), "an internal note talks to no one"
    own = ticketing.token("self", customer_id=ticket["customer_id"], subject="customer")
    nudge = await ticketing.act(tid, "comments", {"body": "Any news?", "visibility": "public"}, headers=own)
    assert nudge.status_code == 201, nudge.text
    assert (nudge.json()["owner_id"], nudge.json()["status"]) == (None, "open"), "the customer owns nothing"
    assert await _assignments(ticketing, tid) == []
    assert tid in await _queue(ticketing, "status=open")

    ticketing.clock.advance(timedelta(minutes=10))
    reply = await ticketing.act(tid, "comments", {"body": "We are on it", "visibility": "public"}, headers=bora)
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert (body["owner_id"], body["status"], body["transfer_count"], body["opened_by"]) == (
        "agent-bora",
        "in_progress",
        0,
        None,
    )
    assert body["first_responded_at"] == _iso(timedelta(minutes=15))
    assert body["version"] == 5 and reply.headers["ETag"] == '"5"', "the reply and the assignment: two events"

    events = await ticketing.outbox(tid)
    assert [e["type"] for e in events] == [
        "TicketOpened",
        "TicketCommented",
        "TicketCommented",
        "TicketCommented",
        "TicketAssigned",
    ]
    commented, assigned = events[-2], events[-1]
    assert (commented["data"]["author_id"], commented["data"]["first_response"]) == ("agent-bora", True)
    data = assigned["data"]
    assert (data["agent_id"], data["routing"], data["assigned_by"], data["assigned_at"]) == (
        "agent-bora",
        "first_contact",
        "agent-bora",
        _iso(timedelta(minutes=15)),
    )
    assert assigned["key"] == ticket["customer_id"] and assigned["headers"]["ce_streamid"] == tid
    assert [e["headers"]["ce_streamversion"] for e in (commented, assigned)] == ["4", "5"]
    assert commented["headers"]["ce_correlationid"] == assigned["headers"]["ce_correlationid"], "one command"

    assert tid in await _queue(ticketing, "owner_id=agent-bora")
    assert tid not in await _queue(ticketing, "status=open")
    assert await _metric(ticketing, "ticket_first_contact_owners_total", via="reply") == 1.0
    assert await _metric(ticketing, "ticket_first_contact_owners_total", via="contact") is None
    metrics = (await ticketing.client.get("/metrics")).text
    assert not re.search(r"^ticket_transfers_total\{", metrics, re.MULTILINE), "an assignment, not a transfer"

    # Whoever talks next does not take it over, and moving it is a transfer.
    later = await ticketing.act(tid, "comments", {"body": "Shipped today", "visibility": "public"}, headers=cem)
    call = await ticketing.act(tid, "contacts", {"method": "call", "summary": "Called"}, headers=cem)
    assert [r.status_code for r in (later, call)] == [201, 201]
    assert (call.json()["owner_id"], call.json()["transfer_count"]) == ("agent-bora", 0)
    assert len(await _assignments(ticketing, tid)) == 1
    pick = await ticketing.act(tid, "assign", {"agent_id": "agent-cem"})
    assert pick.status_code == 409 and "transfer" in pick.json()["detail"]
    assert await _metric(ticketing, "ticket_first_contact_owners_total", via="reply") == 1.0

    view = (await ticketing.client.get(f"/v1/tickets/{tid}", headers=ticketing.staff)).json()
    assert [h["type"] for h in view["history"]][3:5] == ["TicketCommented", "TicketAssigned"]
    assert view["history"][4]["data"]["routing"] == "first_contact"


async def test_a_logged_contact_owns_an_unowned_ticket_once_even_when_replayed(ticketing: TicketingService) -> None:
    ticket = await ticketing.open(channel="web", kind="complaint")
    tid = ticket["id"]
    headers = {**ticketing.staff, "Idempotency-Key": f"call-{new_id()}"}
    contact = {"method": "call", "direction": "inbound", "summary": "Customer rang", "agent_id": "agent-cem"}
    first = await ticketing.act(tid, "contacts", contact, headers=headers)
    again = await ticketing.act(tid, "contacts", contact, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201), first.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert (first.json()["owner_id"], first.json()["status"]) == ("agent-cem", "in_progress")
    assert await ticketing.types(tid) == [
        "TicketOpened",
        "ComplaintFiled",
        "CustomerContacted",
        "TicketAssigned",
    ]
    [assigned] = await _assignments(ticketing, tid)
    assert (assigned["data"]["agent_id"], assigned["data"]["routing"], assigned["data"]["assigned_by"]) == (
        "agent-cem",
        "first_contact",
        "agent-cem",
    )
    assert await _queue(ticketing, "owner_id=agent-cem") == [tid]
    assert await _metric(ticketing, "ticket_first_contact_owners_total", via="contact") == 1.0, "counted once"
    assert await _metric(ticketing, "ticket_first_contact_owners_total", via="reply") is None

    resolved = await ticketing.act(tid, "resolve", {"resolution": "Replaced", "root_cause": "product_defect"})
    assert resolved.status_code == 200, resolved.text
    kpis = (await ticketing.outbox(tid))[-1]["data"]
    assert (kpis["first_contact_resolution"], kpis["transfer_count"]) == (True, 0)


async def test_an_owned_ticket_keeps_its_owner_when_another_agent_talks_first(ticketing: TicketingService) -> None:
    ticket = await ticketing.open(agent_id="agent-ayse")
    bora = ticketing.token(subject="agent-bora")
    reply = await ticketing.act(ticket["id"], "comments", {"body": "Hello", "visibility": "public"}, headers=bora)
    call = await ticketing.act(ticket["id"], "contacts", {"method": "email"}, headers=bora)
    assert [r.status_code for r in (reply, call)] == [201, 201]
    assert (call.json()["owner_id"], call.json()["transfer_count"]) == ("agent-ayse", 0)
    [assigned] = await _assignments(ticketing, ticket["id"])
    assert (assigned["data"]["agent_id"], assigned["data"]["routing"]) == ("agent-ayse", "first_contact")
    assert await _queue(ticketing, "owner_id=agent-bora") == []
    assert await _metric(ticketing, "ticket_first_contact_owners_total", via="reply") is None
    assert await _metric(ticketing, "ticket_first_contact_owners_total", via="contact") is None


async def test_two_agents_answering_an_unowned_ticket_at_once_give_it_one_owner(ticketing: TicketingService) -> None:
    ticket = await ticketing.open(channel="web")
    agents = ("agent-bora", "agent-cem")
    answers = await asyncio.gather(
        *(
            ticketing.act(
                ticket["id"], "comments", {"body": "Hi", "visibility": "public"}, headers=ticketing.token(subject=a)
            )
            for a in agents
        )
    )
    assert {r.status_code for r in answers} <= {201, 409}, [r.text for r in answers]
    won = [a for a, r in zip(agents, answers, strict=True) if r.status_code == 201]
    assert won, "at least one reply went through"
    [assigned] = await _assignments(ticketing, ticket["id"])
    owner = assigned["data"]["agent_id"]
    assert owner in won
    view = (await ticketing.client.get(f"/v1/tickets/{ticket['id']}", headers=ticketing.staff)).json()
    assert (view["owner_id"], view["transfer_count"]) == (owner, 0)
    assert await _metric(ticketing, "ticket_first_contact_owners_total", via="reply") == 1.0
