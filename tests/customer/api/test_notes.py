"""Notes on customers and follow-ups through the API, on a real database (issue 21.1)."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from shared.contracts.customer import CustomerNoteWritten
from shared.ids import new_id
from shared.shredding import decrypt_value
from tests.customer.api.conftest import CustomerService


def _due(service: CustomerService, days: int) -> str:
    return (service.clock.now() + timedelta(days=days)).isoformat()


async def _write(service: CustomerService, customer_id: str, text: str, **follow_up: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"text": text}
    if follow_up:
        body["follow_up"] = follow_up
    headers = {**service.staff, "Idempotency-Key": f"n-{new_id()}"}
    answer = await service.client.post(f"/v1/customers/{customer_id}/notes", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def test_notes_are_listed_newest_first_with_their_follow_ups_and_the_read_is_audited(
    customer_service: CustomerService,
) -> None:
    client, staff = customer_service.client, customer_service.staff
    customer = await customer_service.register()
    first = await _write(customer_service, customer["id"], "Met them at the trade fair")
    customer_service.clock.advance(timedelta(minutes=5))
    second = await _write(customer_service, customer["id"], "Call in January about the new line",
                          due_at=_due(customer_service, 30), owner="am.selin")
    assert first["follow_up"] is None and first["author"] == "tester"
    assert second["follow_up"]["owner"] == "am.selin" and second["follow_up"]["state"] == "open"

    url = f"/v1/customers/{customer['id']}/notes"
    page = (await client.get(url, params={"limit": 1}, headers=staff)).json()
    assert [n["id"] for n in page["items"]] == [second["id"]]
    rest = (await client.get(url, params={"limit": 1, "cursor": page["next_cursor"]}, headers=staff)).json()
    assert [n["id"] for n in rest["items"]] == [first["id"]] and rest["next_cursor"] is None

    assert await _views(customer_service, customer["id"]) == ["customer_notes", "customer_notes"]


async def _views(service: CustomerService, customer_id: str) -> list[str]:
    rows = await service.app.state.pool.fetch(
        "select data from events where event_type = 'PersonalDataViewed' and subject = $1", customer_id)
    return [r["data"]["view"] for r in rows]


async def test_the_note_text_is_sealed_in_the_event_and_erasure_removes_it(customer_service: CustomerService) -> None:
    client, staff = customer_service.client, customer_service.staff
    customer = await customer_service.register()
    secret = f"Private remark {new_id().hex[-8:]}"
    note = await _write(customer_service, customer["id"], secret, due_at=_due(customer_service, 3))
    published = [o for o in await customer_service.outbox()
                 if o["headers"]["ce_type"].endswith("CustomerNoteWritten.v1")]
    assert len(published) == 1 and published[0]["key"] == customer["id"]
    sealed = published[0]["data"]["text"]
    assert sealed.startswith("enc:") and secret not in str(published[0])
    key_answer = await client.get(f"/v1/internal/keys/{customer['id']}", headers=customer_service.token("keys:read"))
    key = base64.b64decode(key_answer.json()["key"])
    assert decrypt_value(key, customer["id"], "text", sealed) == secret

    admin = customer_service.token("admin")
    assert (await client.delete(f"/v1/customers/{customer['id']}", headers=admin)).status_code == 204
    pool = customer_service.app.state.pool
    assert await pool.fetchval("select count(*) from customer_notes where customer_id = $1", customer["id"]) == 0
    stored = await pool.fetch("select body::text as body from idempotency_keys")
    assert all(secret not in r["body"] for r in stored if r["body"])
    async with pool.acquire() as conn:
        history = await customer_service.app.state.store.load(conn, note["id"])
    written = history[0].event
    assert isinstance(written, CustomerNoteWritten) and written.text is None  # the key is gone
    listed = await client.get("/v1/follow-ups", params={"owner": "tester"}, headers=staff)
    assert note["follow_up"]["id"] not in listed.text
    assert (await client.get(f"/v1/customers/{customer['id']}/notes", headers=staff)).status_code == 410
    gone = await client.post(f"/v1/customers/{customer['id']}/notes", json={"text": "again"}, headers=staff)
    assert gone.status_code == 410 and gone.headers["content-type"].startswith("application/problem+json")
    late = await client.post(f"/v1/follow-ups/{note['follow_up']['id']}/complete", headers=staff)
    assert late.status_code == 410


async def test_follow_ups_of_an_owner_are_due_first_and_move_through_their_states(
    customer_service: CustomerService,
) -> None:
    client, staff = customer_service.client, customer_service.staff
    owner = f"am.{new_id().hex[-6:]}"
    a, b = await customer_service.register(), await customer_service.register()
    later = (await _write(customer_service, a["id"], "Later", due_at=_due(customer_service, 10), owner=owner))
    sooner = (await _write(customer_service, b["id"], "Sooner", due_at=_due(customer_service, 2), owner=owner))
    await _write(customer_service, b["id"], "Someone else's", due_at=_due(customer_service, 1), owner="other")

    listed = (await client.get("/v1/follow-ups", params={"owner": owner, "state": "open"}, headers=staff)).json()
    assert [f["note_text"] for f in listed["items"]] == ["Sooner", "Later"]
    page = (await client.get("/v1/follow-ups", params={"owner": owner, "limit": 1}, headers=staff)).json()
    rest = (await client.get("/v1/follow-ups", params={"owner": owner, "limit": 1, "cursor": page["next_cursor"]},
                             headers=staff)).json()
    assert [page["items"][0]["note_text"], rest["items"][0]["note_text"]] == ["Sooner", "Later"]

    fid = sooner["follow_up"]["id"]
    stale = await client.post(f"/v1/follow-ups/{fid}/snooze", json={"until": _due(customer_service, 20)},
                              headers={**staff, "If-Match": '"7"'})
    assert stale.status_code == 412
    snoozed = await client.post(f"/v1/follow-ups/{fid}/snooze", json={"until": _due(customer_service, 20)},
                                headers={**staff, "If-Match": '"1"'})
    assert snoozed.status_code == 200, snoozed.text
    assert snoozed.json()["state"] == "snoozed" and snoozed.headers["ETag"] == '"2"'
    pending = (await client.get("/v1/follow-ups", params={"owner": owner}, headers=staff)).json()
    assert [f["note_text"] for f in pending["items"]] == ["Later", "Sooner"]
    only_open = (await client.get("/v1/follow-ups", params={"owner": owner, "state": "open"}, headers=staff)).json()
    assert [f["note_text"] for f in only_open["items"]] == ["Later"]

    done = await client.post(f"/v1/follow-ups/{fid}/complete", headers=staff)
    assert done.json()["state"] == "done"
    assert (await client.post(f"/v1/follow-ups/{fid}/complete", headers=staff)).json()["version"] == 3
    refused = await client.post(f"/v1/follow-ups/{fid}/cancel", headers=staff)
    assert refused.status_code == 409 and refused.headers["content-type"].startswith("application/problem+json")
    cancelled = await client.post(f"/v1/follow-ups/{later['follow_up']['id']}/cancel", headers=staff)
    assert cancelled.json()["state"] == "cancelled"
    assert (await client.get("/v1/follow-ups", params={"owner": owner}, headers=staff)).json()["items"] == []
    finished = (await client.get("/v1/follow-ups", params=[("owner", owner), ("state", "done"),
                                                           ("state", "cancelled")], headers=staff)).json()
    assert {f["state"] for f in finished["items"]} == {"done", "cancelled"}
    one = await client.get(f"/v1/follow-ups/{fid}", headers=staff)
    assert one.json()["state"] == "done" and one.headers["ETag"] == '"3"'


async def test_bad_input_is_422_unknown_is_404_and_nothing_changes(customer_service: CustomerService) -> None:
    client, staff = customer_service.client, customer_service.staff
    customer = await customer_service.register()
    url = f"/v1/customers/{customer['id']}/notes"
    for body in ({"text": "   "}, {"text": ""}, {}, {"text": "x", "follow_up": {"due_at": "2027-01-01T10:00:00"}},
                 {"text": "x", "follow_up": {"due_at": "2027-01-01T10:00:00Z", "owner": " "}},
                 {"text": "x", "extra": 1}, {"text": "x" * 4001}):
        answer = await client.post(url, json=body, headers=staff)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    note = await _write(customer_service, customer["id"], "ok", due_at=_due(customer_service, 1))
    fid = note["follow_up"]["id"]
    past = await client.post(f"/v1/follow-ups/{fid}/snooze", json={"until": _due(customer_service, -1)}, headers=staff)
    assert past.status_code == 422
    assert (await client.post(f"/v1/follow-ups/{fid}/snooze", json={}, headers=staff)).status_code == 422
    assert (await client.get(url, params={"cursor": "bm9wZQ"}, headers=staff)).status_code == 422
    assert (await client.get("/v1/follow-ups", params={"state": "lost"}, headers=staff)).status_code == 422
    unknown = await client.post(f"/v1/follow-ups/{new_id()}/complete", headers=staff)
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(f"/v1/follow-ups/{new_id()}", headers=staff)).status_code == 404
    assert (await client.post(f"/v1/customers/{new_id()}/notes", json={"text": "x"}, headers=staff)).status_code == 404
    assert (await client.get(f"/v1/customers/{new_id()}/notes", headers=staff)).status_code == 404
    listed = (await client.get(url, headers=staff)).json()["items"]
    assert [n["text"] for n in listed] == ["ok"]
    assert (await client.get(f"/v1/follow-ups/{fid}", headers=staff)).json()["version"] == 1


async def test_notes_need_customer_scopes_and_self_service_tokens_are_refused(
    customer_service: CustomerService,
) -> None:
    client = customer_service.client
    customer = await customer_service.register()
    url = f"/v1/customers/{customer['id']}/notes"
    reader = customer_service.token("customers:read")
    assert (await client.post(url, json={"text": "x"}, headers=reader)).status_code == 403
    assert (await client.get(url, headers=reader)).status_code == 200
    me = customer_service.token("self", "customers:read", customer_id=customer["id"])
    assert (await client.get(url, headers=me)).status_code == 403


async def test_the_export_holds_the_notes_and_follow_ups(customer_service: CustomerService) -> None:
    customer = await customer_service.register()
    await _write(customer_service, customer["id"], "Exported remark", due_at=_due(customer_service, 5))
    part = (await customer_service.client.get(f"/v1/internal/customers/{customer['id']}/export",
                                              headers=customer_service.token("keys:read"))).json()
    assert [n["text"] for n in part["sections"]["notes"]] == ["Exported remark"]
    assert len(part["sections"]["follow_ups"]) == 1
