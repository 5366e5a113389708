"""Customers over HTTP against real PostgreSQL: answers, 4xx problems, and the events in the outbox."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from shared.ids import new_id
from shared.shredding import decrypt_value
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
    assert body["consents"] == {"email": True, "sms": False, "push": False, "phone": False, "service_followups": True}
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
        (a_customer(acquisition_channel="billboard"), 422),
        (a_customer(acquisition_cost=25.0), 422),
        (a_customer(birth_date="2999-01-01"), 422),
        (a_customer(consents={"fax": True}), 422),
        (a_customer(name=""), 422),
        (a_customer(unknown="x"), 422),
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


async def test_service_follow_ups_are_on_by_default_and_opted_out_of_separately(
    customer_service: CustomerService,
) -> None:
    customer = await customer_service.register(consents={"email": True})
    cid = customer["id"]
    assert customer["consents"]["service_followups"] is True
    url = f"/v1/customers/{cid}/consents"
    out = await customer_service.client.put(url, json={"service_followups": False}, headers=customer_service.staff)
    assert out.status_code == 200, out.text
    assert out.json()["consents"] == {"email": True, "sms": False, "push": False, "phone": False,
                                      "service_followups": False}
    again = await customer_service.client.put(url, json={"service_followups": False}, headers=customer_service.staff)
    assert again.status_code == 200  # no change: no event
    bad = await customer_service.client.put(url, json={"service_followups": "no"}, headers=customer_service.staff)
    assert bad.status_code == 422
    events = (await customer_service.outbox())[1:]
    assert [(e["headers"]["ce_type"].split(".")[2], e["data"]["granted"], e["data"]["source"]) for e in events] == [
        ("ServiceFollowupsChanged", False, "operator")]
    fetched = await customer_service.client.get(f"/v1/customers/{cid}", headers=customer_service.staff)
    assert fetched.json()["consents"]["service_followups"] is False
    opted_out = await customer_service.register(consents={"email": True, "service_followups": False})
    assert opted_out["consents"]["service_followups"] is False


async def test_merge_and_unmerge(customer_service: CustomerService) -> None:
    client, staff = customer_service.client, customer_service.staff
    survivor = await customer_service.register(name="Jane Doe", birth_date="1990-05-01")
    duplicate = await customer_service.register(name="Jane  Doe", birth_date="1990-05-01")
    candidates = (await client.get("/v1/customers/duplicates", headers=staff)).json()["items"]
    assert {"customer_id": survivor["id"], "duplicate_id": duplicate["id"], "evidence": ["name", "birth_date"],
            "name_similarity": 1.0} in evidence_of(candidates)
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


async def test_patch_refusals_are_4xx_problems_that_record_nothing(customer_service: CustomerService) -> None:
    client, staff = customer_service.client, customer_service.staff
    taken = await customer_service.register(email="taken.by.other@example.com")
    customer = await customer_service.register()
    url = f"/v1/customers/{customer['id']}"
    before = len(await customer_service.outbox())
    cases = [
        ({"email": " Taken.By.Other@example.com"}, {}, 409),
        ({"name": None}, {}, 422),
        ({"email": None}, {}, 422),
        ({"relationship_type": None}, {}, 422),
        ({"phone": "12"}, {}, 422),
        ({"birth_date": "2999-01-01"}, {}, 422),
        ({"timezone": "Mars/Base"}, {}, 422),
        ({"nickname": "JD"}, {}, 422),
        ({"address": "x"}, {"If-Match": "seven"}, 400),
        ({"address": "x"}, {"If-Match": '"9"'}, 412),
    ]
    for body, extra, status in cases:
        response = await client.patch(url, json=body, headers={**staff, **extra})
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        if status == 409:
            assert response.json()["existing_customer_id"] == taken["id"]
        if status == 412:
            assert response.json()["current_etag"] == '"1"'
    read_only = customer_service.token("customers:read")
    assert (await client.patch(url, json={"address": "x"}, headers=read_only)).status_code == 403
    assert (await client.patch(f"/v1/customers/{new_id()}", json={"address": "x"}, headers=staff)).status_code == 404
    assert len(await customer_service.outbox()) == before
    assert (await client.get(url, headers=staff)).json()["version"] == 1


async def test_patch_clears_an_optional_field_and_a_no_op_patch_records_nothing(
    customer_service: CustomerService,
) -> None:
    customer = await customer_service.register(address="1 Main St", phone="+905551234000")
    url = f"/v1/customers/{customer['id']}"
    cleared = await customer_service.client.patch(
        url, json={"address": None, "phone": "+90 555 123 40 00"}, headers=customer_service.staff
    )
    assert cleared.status_code == 200 and cleared.json()["address"] is None
    assert cleared.json()["phone"] == "+905551234000" and cleared.json()["version"] == 2
    [update] = (await customer_service.outbox())[1:]
    assert update["data"]["changed_fields"] == ["address"] and update["data"]["address"] is None
    same = await customer_service.client.patch(url, json={"address": None}, headers=customer_service.staff)
    assert same.status_code == 200 and same.json()["version"] == 2
    assert len(await customer_service.outbox()) == 2


async def test_a_merged_or_erased_customer_cannot_be_changed(customer_service: CustomerService) -> None:
    client, staff = customer_service.client, customer_service.staff
    survivor, duplicate, erased = [await customer_service.register() for _ in range(3)]
    await client.post(
        f"/v1/customers/{survivor['id']}/merge", json={"duplicate_id": duplicate["id"], "reason": "dup"}, headers=staff
    )
    await client.delete(f"/v1/customers/{erased['id']}", headers=customer_service.token("admin"))
    for target, status in ((duplicate, 409), (erased, 410)):
        url = f"/v1/customers/{target['id']}"
        assert (await client.patch(url, json={"address": "x"}, headers=staff)).status_code == status
        assert (await client.put(f"{url}/consents", json={"sms": True}, headers=staff)).status_code == status
        manager = await client.put(f"{url}/account-manager", json={"account_manager_id": "emp-1"}, headers=staff)
        assert manager.status_code == status
    refused = await client.patch(f"/v1/customers/{duplicate['id']}", json={"address": "x"}, headers=staff)
    assert refused.json()["merged_into"] == survivor["id"]


async def test_merge_refusals(customer_service: CustomerService) -> None:
    client, staff = customer_service.client, customer_service.staff
    a, b, c, d, erased = [await customer_service.register() for _ in range(5)]
    await client.delete(f"/v1/customers/{erased['id']}", headers=customer_service.token("admin"))

    async def merge(survivor: dict[str, str], duplicate_id: str, reason: str = "same person") -> int:
        response = await client.post(
            f"/v1/customers/{survivor['id']}/merge",
            json={"duplicate_id": duplicate_id, "reason": reason},
            headers=staff,
        )
        return response.status_code

    assert await merge(a, erased["id"]) == 409  # an erased duplicate
    assert await merge(a, str(new_id())) == 422  # the body names nobody: the duplicate_id field is wrong
    assert await merge({"id": str(new_id())}, b["id"]) == 404  # the path's customer does not exist
    named_nobody = await client.post(f"/v1/customers/{a['id']}/unmerge", json={"duplicate_id": str(new_id())},
                                     headers=staff)
    assert named_nobody.status_code == 422 and named_nobody.json()["field"] == "duplicate_id"
    assert await merge(a, b["id"], reason="") == 422
    assert await merge(a, b["id"], reason="   ") == 422
    assert await merge(a, b["id"]) == 200
    assert await merge(c, b["id"]) == 409  # already merged (into a)
    assert await merge(b, c["id"]) == 409  # b is merged away: it cannot absorb anyone
    assert await merge(c, a["id"]) == 409  # a has merged duplicates of its own
    assert await merge(erased, d["id"]) == 410  # the survivor is gone
    not_merged = await client.post(f"/v1/customers/{a['id']}/unmerge", json={"duplicate_id": c["id"]}, headers=staff)
    assert not_merged.status_code == 409
    read_only = customer_service.token("customers:read")
    forbidden = await client.post(
        f"/v1/customers/{a['id']}/merge", json={"duplicate_id": d["id"], "reason": "x"}, headers=read_only
    )
    assert forbidden.status_code == 403
    merges = [e for e in await customer_service.outbox() if e["headers"]["ce_type"].endswith("CustomersMerged.v1")]
    assert len(merges) == 1


async def test_merge_records_who_why_and_the_evidence_and_unmerge_separates_again(
    customer_service: CustomerService,
) -> None:
    client, staff = customer_service.client, customer_service.staff
    keys = customer_service.token("keys:read")
    tag = new_id().hex[-8:]
    survivor = await customer_service.register(name="Ali Can", email=f"ali.can.{tag}@gmail.com")
    duplicate = await customer_service.register(name="Ali Cen", email=f"alican{tag}+shop@googlemail.com")
    order = await customer_service.place_order(duplicate["id"])
    merged = await client.post(
        f"/v1/customers/{survivor['id']}/merge",
        json={"duplicate_id": duplicate["id"], "reason": "called in, same person"},
        headers=staff,
    )
    assert merged.status_code == 200 and merged.json()["id"] == survivor["id"]
    event = (await customer_service.outbox())[-1]
    assert event["data"]["evidence"] == ["email", "name"] and event["data"]["merged_by"] == "tester"
    key = base64.b64decode((await client.get(f"/v1/internal/keys/{survivor['id']}", headers=keys)).json()["key"])
    assert decrypt_value(key, survivor["id"], "reason", event["data"]["reason"]) == "called in, same person"
    assert (await client.post("/v1/orders", json=an_order(duplicate["id"]), headers=staff)).status_code == 409
    mine = (await client.get(f"/v1/customers/{survivor['id']}/orders", headers=staff)).json()["items"]
    assert [o["id"] for o in mine] == [order["id"]]

    unmerged = await client.post(
        f"/v1/customers/{survivor['id']}/unmerge",
        json={"duplicate_id": duplicate["id"], "reason": "two people after all"},
        headers=staff,
    )
    assert unmerged.status_code == 200
    undone = (await customer_service.outbox())[-1]
    assert undone["headers"]["ce_type"] == "customer360.customer.CustomersUnmerged.v1"
    assert undone["key"] == survivor["id"] and undone["data"]["duplicate_id"] == duplicate["id"]
    assert undone["data"]["unmerged_by"] == "tester" and undone["data"]["reason"].startswith("enc:v1:")
    again = await client.get(f"/v1/customers/{duplicate['id']}", headers=staff)
    assert again.json()["status"] == "active" and again.json()["merged_into"] is None
    theirs = (await client.get(f"/v1/customers/{duplicate['id']}/orders", headers=staff)).json()["items"]
    assert [o["id"] for o in theirs] == [order["id"]]
    assert (await client.get(f"/v1/customers/{survivor['id']}/orders", headers=staff)).json()["items"] == []
    assert (await client.post("/v1/orders", json=an_order(duplicate["id"]), headers=staff)).status_code == 201
    remerged = await client.post(
        f"/v1/customers/{survivor['id']}/merge", json={"duplicate_id": duplicate["id"], "reason": "x"}, headers=staff
    )
    assert remerged.status_code == 200  # a merge undone can be made again


async def test_duplicate_candidates_with_evidence_and_cursor_pagination(customer_service: CustomerService) -> None:
    client, staff = customer_service.client, customer_service.staff
    tag = new_id().hex[-8:]
    # Same mailbox (Gmail ignores dots and +tags); the names differ.
    mail_a = await customer_service.register(name="Jane Doe", email=f"jane.doe.{tag}@gmail.com")
    mail_b = await customer_service.register(name="J. Smith", email=f"janedoe{tag}+promo@gmail.com")
    # A similar name (one letter apart, which trigrams alone score low) and the same birth date.
    name_a = await customer_service.register(name="Ali Can", birth_date="1980-01-02")
    name_b = await customer_service.register(name="Ali Cen", birth_date="1980-01-02")
    # Not candidates: the same name with another birth date, or no birth date at all.
    await customer_service.register(name="Ali Can", birth_date="1981-01-02")
    await customer_service.register(name="Ali Can")

    def pair(left: dict[str, str], right: dict[str, str], evidence: list[str], score: float) -> dict[str, object]:
        first, second = sorted((left["id"], right["id"]))
        return {"customer_id": first, "duplicate_id": second, "evidence": evidence, "name_similarity": score}

    expected = sorted(
        [pair(mail_a, mail_b, ["email"], 0.125), pair(name_a, name_b, ["name", "birth_date"], 0.8571)],
        key=lambda p: (p["customer_id"], p["duplicate_id"]),
    )
    first = (await client.get("/v1/customers/duplicates", params={"limit": 1}, headers=staff)).json()
    assert evidence_of(first["items"]) == expected[:1] and first["next_cursor"]
    second = (
        await client.get("/v1/customers/duplicates", params={"limit": 1, "cursor": first["next_cursor"]}, headers=staff)
    ).json()
    assert evidence_of(second["items"]) == expected[1:]
    if second["next_cursor"]:
        rest = await client.get(
            "/v1/customers/duplicates", params={"limit": 1, "cursor": second["next_cursor"]}, headers=staff
        )
        assert rest.json() == {"items": [], "next_cursor": None, "rules_version": 0}

    await client.post(
        f"/v1/customers/{name_a['id']}/merge", json={"duplicate_id": name_b["id"], "reason": "dup"}, headers=staff
    )
    left = (await client.get("/v1/customers/duplicates", headers=staff)).json()
    assert {**left, "items": evidence_of(left["items"])} == {
        "items": [pair(mail_a, mail_b, ["email"], 0.125)], "next_cursor": None, "rules_version": 0
    }
    assert (await client.get("/v1/customers/duplicates", params={"cursor": "x"}, headers=staff)).status_code == 422
    self_token = customer_service.token("self", customer_id=mail_a["id"])
    assert (await client.get("/v1/customers/duplicates", headers=self_token)).status_code == 403


async def test_search_by_phone_combined_filters_and_bad_parameters(customer_service: CustomerService) -> None:
    client, staff = customer_service.client, customer_service.staff
    tag = new_id().hex[-6:]
    one = await customer_service.register(name=f"Deniz {tag}", phone="+905551110001")
    await customer_service.register(name=f"Deniz {tag}", phone="+905551110002")
    by_phone = await client.get("/v1/customers", params={"phone": "+90 555 111 00 01"}, headers=staff)
    assert [c["id"] for c in by_phone.json()["items"]] == [one["id"]]
    both = await client.get("/v1/customers", params={"q": f"DENİZ {tag}", "phone": "+905551110001"}, headers=staff)
    assert [c["id"] for c in both.json()["items"]] == [one["id"]]
    mismatch = await client.get(
        "/v1/customers", params={"email": one["email"], "phone": "+905551110002"}, headers=staff
    )
    assert mismatch.json() == {"items": [], "next_cursor": None}
    everyone = await client.get("/v1/customers", headers=staff)
    assert len(everyone.json()["items"]) == 2
    for params in ({"limit": 0}, {"limit": 201}, {"phone": "12"}, {"email": "nope"}, {"cursor": "W10"}):
        response = await client.get("/v1/customers", params=params, headers=staff)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_registration_records_referral_and_every_relationship_type(customer_service: CustomerService) -> None:
    referrer = await customer_service.register()
    referred = await customer_service.register(
        referred_by=referrer["id"], acquisition_channel="referral", birth_date="1990-05-01", phone="+442079460000"
    )
    assert referred["referred_by"] == referrer["id"] and referred["birth_date"] == "1990-05-01"
    event = (await customer_service.outbox())[-1]
    assert event["data"]["referred_by"] == referrer["id"] and event["data"]["acquisition_channel"] == "referral"
    assert (
        event["data"]["birth_date"].startswith("enc:v1:") and event["data"]["registered_at"] == "2026-03-01T09:00:00Z"
    )
    kinds = (
        "transactional",
        "long_term",
        "personal_assistance",
        "dedicated_assistance",
        "self_service",
        "automated",
        "community",
    )
    for kind in kinds:
        assert (await customer_service.register(relationship_type=kind))["relationship_type"] == kind
    channels = ("web", "store", "phone", "partner", "campaign")
    for channel in channels:
        assert (await customer_service.register(acquisition_channel=channel))["acquisition_channel"] == channel


def evidence_of(pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pairs without the two records' details (tests/customer/api/test_identity.py checks those)."""
    keys = ("customer_id", "duplicate_id", "evidence", "name_similarity")
    return [{k: p[k] for k in keys} for p in pairs]
