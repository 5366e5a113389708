"""Customers over HTTP against real PostgreSQL: answers, 4xx problems, and the events in the outbox."""

from __future__ import annotations

import asyncio

from shared.ids import new_id
from tests.customer.api.conftest import CustomerService, a_customer, an_order


async def test_registration_answers_201_and_queues_an_encrypted_customer_registered(
    customer_service: CustomerService,
) -> None:
    response = await customer_service.client.post(
        "/v1/customers",
        json=a_customer(email="  Jane.DOE.x1@Example.com ", phone="+90 555 123 45 67"),
        headers=customer_service.staff,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "jane.doe.x1@example.com"
    assert body["phone"] == "+905551234567"
    assert body["version"] == 1 and body["status"] == "active"
    assert body["acquisition_cost"] == "25.00"
    assert body["consents"] == {"email": True, "sms": False, "push": False, "phone": False}
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == f"/v1/customers/{body['id']}"

    [event] = await customer_service.outbox()
    assert event["key"] == body["id"]
    assert event["headers"]["ce_type"] == "customer360.customer.CustomerRegistered.v1"
    assert event["headers"]["ce_subject"] == body["id"]
    assert event["headers"]["ce_source"] == "/customer360/customer"
    assert event["data"]["customer_id"] == body["id"]
    assert event["data"]["acquisition_cost"] == "25.00"
    assert event["data"]["interests"] == ["coffee", "tea"]
    for personal in ("name", "email", "phone"):
        assert event["data"][personal].startswith("enc:v1:"), personal


async def test_a_taken_email_or_phone_is_409_with_the_existing_customer_and_creates_nothing(
    customer_service: CustomerService,
) -> None:
    first = await customer_service.register(email="taken.1@example.com", phone="+442079460958")
    for clash in ({"email": " TAKEN.1@example.com"}, {"phone": "+44 20 7946 0958"}):
        response = await customer_service.client.post(
            "/v1/customers", json=a_customer(**clash), headers=customer_service.staff
        )
        assert response.status_code == 409, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["existing_customer_id"] == first["id"]
    assert len(await customer_service.outbox()) == 1


async def test_concurrent_duplicate_registrations_end_as_one_201_and_409s(customer_service: CustomerService) -> None:
    body = a_customer(email=f"race.{new_id().hex[-8:]}@example.com")
    responses = await asyncio.gather(
        *(customer_service.client.post("/v1/customers", json=body, headers=customer_service.staff) for _ in range(6))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409, 409, 409]
    winner = next(r for r in responses if r.status_code == 201).json()["id"]
    assert all(r.json()["existing_customer_id"] == winner for r in responses if r.status_code == 409)


async def test_the_same_idempotency_key_replays_the_first_answer(customer_service: CustomerService) -> None:
    body = a_customer()
    headers = {**customer_service.staff, "Idempotency-Key": f"k-{new_id()}"}
    first = await customer_service.client.post("/v1/customers", json=body, headers=headers)
    second = await customer_service.client.post("/v1/customers", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(await customer_service.outbox()) == 1
    other = await customer_service.client.post("/v1/customers", json=a_customer(), headers=headers)
    assert other.status_code == 422


async def test_bad_registrations_are_4xx_problems(customer_service: CustomerService) -> None:
    client, staff = customer_service.client, customer_service.staff
    cases = [
        (a_customer(email="nope"), 422),
        (a_customer(phone="12"), 422),
        (a_customer(acquisition_cost="-1.00"), 422),
        (a_customer(timezone="Mars/Base"), 422),
        (a_customer(relationship_type="frenemy"), 422),
        (a_customer(referred_by=str(new_id())), 422),
    ]
    for body, status in cases:
        response = await client.post("/v1/customers", json=body, headers=staff)
        assert response.status_code == status, (body, response.text)
    assert (await client.post("/v1/customers", json=a_customer())).status_code == 401
    read_only = customer_service.token("customers:read")
    assert (await client.post("/v1/customers", json=a_customer(), headers=read_only)).status_code == 403
    bad_json = await client.post("/v1/customers", content=b"{", headers={**staff, "content-type": "application/json"})
    assert bad_json.status_code == 400
    assert await customer_service.outbox() == []


async def test_patch_with_a_stale_if_match_is_412_and_changes_only_what_changed(
    customer_service: CustomerService,
) -> None:
    customer = await customer_service.register(name="Jane")
    url = f"/v1/customers/{customer['id']}"
    changed = await customer_service.client.patch(
        url, json={"name": "Jane", "timezone": "Europe/London"}, headers={**customer_service.staff, "If-Match": '"1"'}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["timezone"] == "Europe/London" and changed.headers["ETag"] == '"2"'
    stale = await customer_service.client.patch(
        url, json={"timezone": "UTC"}, headers={**customer_service.staff, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    update = (await customer_service.outbox())[-1]
    assert update["headers"]["ce_type"] == "customer360.customer.CustomerProfileUpdated.v1"
    assert update["data"]["changed_fields"] == ["timezone"]


async def test_concurrent_patches_with_the_same_if_match_one_wins(customer_service: CustomerService) -> None:
    customer = await customer_service.register()
    url = f"/v1/customers/{customer['id']}"
    headers = {**customer_service.staff, "If-Match": '"1"'}
    responses = await asyncio.gather(
        *(customer_service.client.patch(url, json={"address": f"Street {i}"}, headers=headers) for i in range(5))
    )
    assert sorted(r.status_code for r in responses) == [200, 412, 412, 412, 412]


async def test_consents_and_account_manager_are_events(customer_service: CustomerService) -> None:
    customer = await customer_service.register(consents={"email": True})
    cid = customer["id"]
    consents = await customer_service.client.put(
        f"/v1/customers/{cid}/consents", json={"email": False, "sms": True}, headers=customer_service.staff
    )
    assert consents.status_code == 200
    assert consents.json()["consents"]["sms"] is True
    manager = await customer_service.client.put(
        f"/v1/customers/{cid}/account-manager", json={"account_manager_id": "emp-7"}, headers=customer_service.staff
    )
    assert manager.json()["account_manager_id"] == "emp-7"
    events = (await customer_service.outbox())[1:]
    assert [(e["headers"]["ce_type"].split(".")[2], e["data"].get("channel")) for e in events] == [
        ("ContactPreferencesChanged", "email"),
        ("ContactPreferencesChanged", "sms"),
        ("AccountManagerAssigned", None),
    ]
    assert events[0]["data"]["source"] == "operator" and events[0]["data"]["granted"] is False


async def test_merge_and_unmerge(customer_service: CustomerService) -> None:
    client, staff = customer_service.client, customer_service.staff
    survivor = await customer_service.register(name="Jane Doe", birth_date="1990-05-01")
    duplicate = await customer_service.register(name="Jane  Doe", birth_date="1990-05-01")
    candidates = (await client.get("/v1/customers/duplicates", headers=staff)).json()["items"]
    assert {"customer_id": survivor["id"], "duplicate_id": duplicate["id"], "evidence": ["name", "birth_date"]} in (
        candidates
    )
    order = await customer_service.place_order(duplicate["id"])

    merged = await client.post(
        f"/v1/customers/{survivor['id']}/merge",
        json={"duplicate_id": duplicate["id"], "reason": "same person"},
        headers=staff,
    )
    assert merged.status_code == 200, merged.text
    gone = (await client.get(f"/v1/customers/{duplicate['id']}", headers=staff)).json()
    assert gone["status"] == "merged" and gone["merged_into"] == survivor["id"]
    orders = (await client.get(f"/v1/customers/{survivor['id']}/orders", headers=staff)).json()["items"]
    assert [o["id"] for o in orders] == [order["id"]]
    event = (await customer_service.outbox())[-1]
    assert event["headers"]["ce_type"].endswith("CustomersMerged.v1")
    assert event["key"] == survivor["id"] and event["data"]["duplicate_id"] == duplicate["id"]
    assert event["data"]["evidence"] == ["name", "birth_date"] and event["data"]["merged_by"] == "tester"

    again = await client.post(
        f"/v1/customers/{survivor['id']}/merge", json={"duplicate_id": duplicate["id"], "reason": "x"}, headers=staff
    )
    assert again.status_code == 409
    itself = await client.post(
        f"/v1/customers/{survivor['id']}/merge", json={"duplicate_id": survivor["id"], "reason": "x"}, headers=staff
    )
    assert itself.status_code == 409
    refused = await client.post("/v1/orders", json=an_order(duplicate["id"]), headers=staff)
    assert refused.status_code == 409

    unmerged = await client.post(
        f"/v1/customers/{survivor['id']}/unmerge", json={"duplicate_id": duplicate["id"]}, headers=staff
    )
    assert unmerged.status_code == 200
    assert (await client.get(f"/v1/customers/{duplicate['id']}", headers=staff)).json()["status"] == "active"
    assert (await client.get(f"/v1/customers/{survivor['id']}/orders", headers=staff)).json()["items"] == []
    assert (await customer_service.outbox())[-1]["headers"]["ce_type"].endswith("CustomersUnmerged.v1")


async def test_search_by_email_phone_and_name_with_cursor_pagination(customer_service: CustomerService) -> None:
    tag = new_id().hex[-6:]
    created = [await customer_service.register(name=f"Zeynep {tag} {i}") for i in range(3)]
    found = await customer_service.client.get(
        "/v1/customers", params={"q": f"zeynep {tag}", "limit": 2}, headers=customer_service.staff
    )
    page = found.json()
    assert [c["id"] for c in page["items"]] == [c["id"] for c in created[:2]]
    rest = await customer_service.client.get(
        "/v1/customers",
        params={"q": f"zeynep {tag}", "limit": 2, "cursor": page["next_cursor"]},
        headers=customer_service.staff,
    )
    assert [c["id"] for c in rest.json()["items"]] == [created[2]["id"]]
    assert rest.json()["next_cursor"] is None
    by_email = await customer_service.client.get(
        "/v1/customers", params={"email": created[1]["email"].upper()}, headers=customer_service.staff
    )
    assert [c["id"] for c in by_email.json()["items"]] == [created[1]["id"]]
    bad = await customer_service.client.get(
        "/v1/customers", params={"cursor": "garbage"}, headers=customer_service.staff
    )
    assert bad.status_code == 422


async def test_unknown_customer_is_404(customer_service: CustomerService) -> None:
    response = await customer_service.client.get(f"/v1/customers/{new_id()}", headers=customer_service.staff)
    assert response.status_code == 404
    assert (
        await customer_service.client.get("/v1/customers/not-a-uuid", headers=customer_service.staff)
    ).status_code == 422
