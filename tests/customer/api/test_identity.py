"""Consent-safe identity through the API: merges never widen consent, duplicate rules are data,
and two verified identities need an operator's explicit confirmation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.ids import new_id
from shared.settings import PlatformSettings
from shared.testing.kafka import drain_outbox, read_topic
from tests.customer.api.conftest import CustomerService

DEFAULT_RULES = {"email": True, "email_canonical": True, "phone": True, "name": True, "name_threshold": 0.85}


async def consents_of(service: CustomerService, customer_id: str) -> dict[str, bool]:
    """The channels' consents (the separate service follow-ups opt-out is not merged; see test_customers)."""
    answer = await service.client.get(f"/v1/customers/{customer_id}", headers=service.staff)
    consents: dict[str, bool] = answer.json()["consents"]
    return {channel: granted for channel, granted in consents.items() if channel != "service_followups"}


async def events_of(service: CustomerService, event_type: str) -> list[dict[str, Any]]:
    return [e for e in await service.outbox() if e["headers"]["ce_type"].split(".")[2] == event_type]


async def test_a_merge_keeps_the_most_restrictive_consent_and_an_unmerge_restores_each_sides_own(
    customer_service: CustomerService,
) -> None:
    service, client, staff = customer_service, customer_service.client, customer_service.staff
    survivor = await service.register(consents={"email": True, "sms": True, "push": True})
    duplicate = await service.register(consents={"email": True, "sms": True})
    # The person unsubscribed on the duplicate record a week after granting on the survivor.
    service.clock.advance(timedelta(days=7))
    withdrawn = await client.put(f"/v1/customers/{duplicate['id']}/consents", json={"email": False}, headers=staff)
    assert withdrawn.status_code == 200
    merged = await client.post(
        f"/v1/customers/{survivor['id']}/merge", json={"duplicate_id": duplicate["id"], "reason": "same"}, headers=staff
    )
    assert merged.status_code == 200, merged.text
    after = {"email": False, "sms": True, "push": False, "phone": False}
    assert merged.json()["consents"] == {**after, "service_followups": True}
    assert await consents_of(service, survivor["id"]) == after

    [event] = await events_of(service, "CustomersMerged")
    evidence = {c["channel"]: c for c in event["data"]["consents"]}
    assert (evidence["email"]["survivor"], evidence["email"]["duplicate"], evidence["email"]["after"]) == (
        True, False, False
    )
    assert evidence["email"]["winner"] == "duplicate" and evidence["push"]["winner"] == "duplicate"
    assert evidence["sms"]["winner"] == "both" and evidence["phone"]["winner"] == "both"
    assert evidence["email"]["duplicate_set_at"] > evidence["email"]["survivor_set_at"]
    narrowed = [e["data"] for e in await events_of(service, "ContactPreferencesChanged") if e["key"] == survivor["id"]]
    assert [(c["channel"], c["granted"], c["because"]) for c in narrowed] == [
        ("email", False, "merge"), ("push", False, "merge")
    ]

    unmerged = await client.post(
        f"/v1/customers/{survivor['id']}/unmerge", json={"duplicate_id": duplicate["id"]}, headers=staff
    )
    assert unmerged.status_code == 200
    assert await consents_of(service, survivor["id"]) == {"email": True, "sms": True, "push": True, "phone": False}
    assert await consents_of(service, duplicate["id"]) == {"email": False, "sms": True, "push": False, "phone": False}
    [undone] = await events_of(service, "CustomersUnmerged")
    assert [(c["channel"], c["before"], c["after"]) for c in undone["data"]["consents_restored"]] == [
        ("email", False, True), ("push", False, True)
    ]


async def test_a_withdrawal_after_the_merge_is_not_undone_by_the_unmerge(customer_service: CustomerService) -> None:
    service, client, staff = customer_service, customer_service.client, customer_service.staff
    survivor = await service.register(consents={"email": True, "sms": True})
    duplicate = await service.register(consents={"email": True, "sms": False})
    await client.post(
        f"/v1/customers/{survivor['id']}/merge", json={"duplicate_id": duplicate["id"], "reason": "same"}, headers=staff
    )
    service.clock.advance(timedelta(days=1))
    me = service.token("self", customer_id=survivor["id"])
    assert (await client.put("/v1/me/consents", json={"email": False}, headers=me)).status_code == 200
    await client.post(f"/v1/customers/{survivor['id']}/unmerge", json={"duplicate_id": duplicate["id"]}, headers=staff)
    # sms comes back (only the merge took it); email stays withdrawn (the person's own later choice).
    assert await consents_of(service, survivor["id"]) == {"email": False, "sms": True, "push": False, "phone": False}


async def test_two_verified_identities_merge_only_with_explicit_confirmation(customer_service: CustomerService) -> None:
    service, client, staff = customer_service, customer_service.client, customer_service.staff
    survivor = await service.register(phone="+905551230001")
    duplicate = await service.register()
    verify = f"/v1/customers/{survivor['id']}/verifications"
    verified = await client.post(verify, json={"channel": "phone", "method": "code"}, headers=staff)
    assert verified.status_code == 200 and verified.json()["verified"] == ["phone"]
    assert verified.headers["ETag"] == f'"{verified.json()["version"]}"'
    no_phone = await client.post(f"/v1/customers/{duplicate['id']}/verifications", json={"channel": "phone"},
                                 headers=staff)
    assert no_phone.status_code == 409 and "no phone" in no_phone.json()["detail"]
    assert (await client.post(f"/v1/customers/{duplicate['id']}/verifications", json={"channel": "email"},
                              headers=staff)).status_code == 200
    stale = await client.post(verify, json={"channel": "email"}, headers={**staff, "If-Match": '"1"'})
    assert stale.status_code == 412

    url = f"/v1/customers/{survivor['id']}/merge"
    refused = await client.post(url, json={"duplicate_id": duplicate["id"], "reason": "same"}, headers=staff)
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["code"] == "verified-identities" and "confirm_verified_identities" in problem["detail"]
    assert (problem["survivor_verified"], problem["duplicate_verified"]) == (["phone"], ["email"])
    assert await events_of(service, "CustomersMerged") == []
    still = (await client.get(f"/v1/customers/{duplicate['id']}", headers=staff)).json()
    assert still["status"] == "active" and still["merged_into"] is None

    confirmed = await client.post(
        url,
        json={"duplicate_id": duplicate["id"], "reason": "same, checked by phone", "confirm_verified_identities": True},
        headers=staff,
    )
    assert confirmed.status_code == 200, confirmed.text
    [merged] = await events_of(service, "CustomersMerged")
    assert merged["data"]["verified_identities_confirmed"] is True
    not_a_flag = await client.post(url, json={"duplicate_id": duplicate["id"], "reason": "x",
                                              "confirm_verified_identities": "yes"}, headers=staff)
    assert not_a_flag.status_code == 422


async def test_a_verification_method_holding_a_nul_is_a_422_and_verifies_nothing(
    customer_service: CustomerService,
) -> None:
    service, client, staff = customer_service, customer_service.client, customer_service.staff
    someone = await service.register(phone="+905551230002")
    url = f"/v1/customers/{someone['id']}/verifications"
    refused = await client.post(url, json={"channel": "phone", "method": "co\u0000de"}, headers=staff)
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("application/problem+json")
    profile = await client.get(f"/v1/customers/{someone['id']}", headers=staff)
    assert profile.json()["verified"] == [] and profile.json()["version"] == someone["version"]


async def test_a_changed_email_is_no_longer_verified(customer_service: CustomerService) -> None:
    client, staff = customer_service.client, customer_service.staff
    customer = await customer_service.register()
    url = f"/v1/customers/{customer['id']}"
    await client.post(f"{url}/verifications", json={"channel": "email"}, headers=staff)
    changed = await client.patch(url, json={"email": f"moved.{customer['id'][-8:]}@example.com"}, headers=staff)
    assert changed.status_code == 200 and changed.json()["verified"] == []


async def test_duplicate_rules_are_admin_data_validated_and_recorded(customer_service: CustomerService) -> None:
    service, client, staff = customer_service, customer_service.client, customer_service.staff
    admin = service.token("admin")
    assert (await client.get("/v1/duplicate-rules", headers=staff)).status_code == 403
    assert (await client.put("/v1/duplicate-rules", json=DEFAULT_RULES, headers=staff)).status_code == 403
    current = await client.get("/v1/duplicate-rules", headers=admin)
    assert current.json() == {**DEFAULT_RULES, "version": 0} and current.headers["ETag"] == '"0"'

    nonsense: list[dict[str, Any]] = [
        {**DEFAULT_RULES, "name_threshold": 1.5},
        {**DEFAULT_RULES, "name_threshold": -0.1},
        {**DEFAULT_RULES, "email": False, "phone": False, "name": False},
        {**DEFAULT_RULES, "name": "yes"},
        {**DEFAULT_RULES, "name_threshold": False},
        {**DEFAULT_RULES, "surname": True},
        {key: value for key, value in DEFAULT_RULES.items() if key != "name_threshold"},
    ]
    for body in nonsense:
        answer = await client.put("/v1/duplicate-rules", json=body, headers=admin)
        assert answer.status_code == 422, body
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/v1/duplicate-rules", headers=admin)).json()["version"] == 0
    assert await events_of(service, "DuplicateRulesChanged") == []

    stricter = {**DEFAULT_RULES, "name_threshold": 0.9, "phone": False}
    changed = await client.put("/v1/duplicate-rules", json=stricter, headers={**admin, "If-Match": '"0"'})
    assert changed.status_code == 200 and changed.json() == {**stricter, "version": 1}
    assert changed.headers["ETag"] == '"1"'
    assert (await client.put("/v1/duplicate-rules", json=DEFAULT_RULES,
                             headers={**admin, "If-Match": '"0"'})).status_code == 412
    same = await client.put("/v1/duplicate-rules", json=stricter, headers=admin)
    assert same.json()["version"] == 1  # the same rules again record nothing
    [event] = await events_of(service, "DuplicateRulesChanged")
    assert event["key"] == "duplicate-rules"
    assert event["data"]["rules"] == stricter and event["data"]["changed_by"] == "tester"


async def test_suggested_pairs_follow_the_rules_and_show_the_evidence(customer_service: CustomerService) -> None:
    service, client, staff = customer_service, customer_service.client, customer_service.staff
    admin = service.token("admin")
    tag = new_id().hex[-8:]
    ali = await service.register(name="Ali Can", birth_date="1980-01-02")
    cen = await service.register(name="Ali Cen", birth_date="1980-01-02")
    jane = await service.register(name="Jane Doe", email=f"jane.doe.{tag}@gmail.com", birth_date="1970-07-07")
    doe = await service.register(name="Doe Jane", email=f"janedoe.{tag}+x@gmail.com", birth_date="1970-07-07")

    async def pairs() -> dict[frozenset[str], dict[str, Any]]:
        page = (await client.get("/v1/customers/duplicates", headers=staff)).json()
        return {frozenset((p["customer_id"], p["duplicate_id"])): p for p in page["items"]}

    found = await pairs()
    names = found[frozenset((ali["id"], cen["id"]))]
    assert names["evidence"] == ["name", "birth_date"] and names["name_similarity"] == pytest.approx(0.857, abs=1e-3)
    mailbox = found[frozenset((jane["id"], doe["id"]))]
    assert mailbox["evidence"] == ["email", "name", "birth_date"] and mailbox["name_similarity"] == 1.0
    # Each side as the operator compares them before merging: contacts, verified contacts and consents.
    sides = {mailbox["customer_id"]: mailbox["customer"], mailbox["duplicate_id"]: mailbox["duplicate"]}
    assert sides[jane["id"]] == {
        "name": "Jane Doe", "email": jane["email"], "phone": None, "birth_date": "1970-07-07", "verified": [],
        "consents": {"email": True, "sms": False, "push": False, "phone": False, "service_followups": True},
        "version": jane["version"],
    }
    assert sides[doe["id"]]["email"] == doe["email"] and sides[doe["id"]]["name"] == "Doe Jane"
    await client.post(f"/v1/customers/{doe['id']}/verifications", json={"channel": "email"}, headers=staff)
    assert (await pairs())[frozenset((jane["id"], doe["id"]))][
        "customer" if mailbox["customer_id"] == doe["id"] else "duplicate"]["verified"] == ["email"]

    await client.put("/v1/duplicate-rules", json={**DEFAULT_RULES, "name_threshold": 0.9}, headers=admin)
    found = await pairs()
    assert frozenset((ali["id"], cen["id"])) not in found
    await client.put("/v1/duplicate-rules", json={**DEFAULT_RULES, "email_canonical": False}, headers=admin)
    found = await pairs()
    assert found[frozenset((jane["id"], doe["id"]))]["evidence"] == ["name", "birth_date"]  # names still match
    await client.put("/v1/duplicate-rules", json={**DEFAULT_RULES, "name": False, "name_threshold": 0.5},
                     headers=admin)
    page = (await client.get("/v1/customers/duplicates", headers=staff)).json()
    assert page["rules_version"] == 3
    assert [(p["evidence"], p["name_similarity"]) for p in page["items"]] == [(["email", "birth_date"], 1.0)]


@pytest.mark.usefixtures("platform_topics_created")
async def test_rule_changes_and_merge_consents_reach_the_topic(
    customer_service: CustomerService, platform_settings: PlatformSettings
) -> None:
    service, client, staff = customer_service, customer_service.client, customer_service.staff
    survivor = await service.register(consents={"email": True})
    duplicate = await service.register(consents={"email": False})
    await client.post(
        f"/v1/customers/{survivor['id']}/merge", json={"duplicate_id": duplicate["id"], "reason": "same"}, headers=staff
    )
    rules = {**DEFAULT_RULES, "phone": False}
    assert (await client.put("/v1/duplicate-rules", json=rules, headers=service.token("admin"))).status_code == 200
    drained = await drain_outbox(service.dsn, platform_settings)
    records = read_topic(platform_settings.kafka_bootstrap_servers, platform_settings.topic("customer.events"),
                         expected=drained)
    kinds = [(r.key.decode(), r.headers["ce_type"].split(".")[2]) for r in sorted(records, key=lambda r: r.offset)
             if r.key in (survivor["id"].encode(), b"duplicate-rules")]
    assert ("duplicate-rules", "DuplicateRulesChanged") in kinds
    assert [k for k in kinds if k[0] == survivor["id"]][-2:] == [
        (survivor["id"], "CustomersMerged"), (survivor["id"], "ContactPreferencesChanged")
    ]
    narrowed = [r.value for r in records if r.headers["ce_type"].endswith("ContactPreferencesChanged.v1")
                and r.key == survivor["id"].encode()]
    assert narrowed[-1]["granted"] is False and narrowed[-1]["because"] == "merge"
    [changed] = [r.value for r in records if r.key == b"duplicate-rules"]
    assert changed["rules"] == rules
