"""The bulk import and consent-safe identity: an imported change of a verified email or phone leaves it
unverified on the profile, and no import merges two customers (verified or not)."""

from __future__ import annotations

from typing import Any

from shared.ids import new_id
from tests.customer.api.conftest import CustomerService


def a_customer_row(source_id: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "kind": "customer", "source_id": source_id, "occurred_at": "2019-03-04T10:00:00+03:00",
        "name": f"Ayşe {source_id}", "email": f"{source_id}@example.com", "phone": None,
        "consents": {"email": True, "sms": False, "push": False, "phone": False},
    }
    row.update(overrides)
    return {key: value for key, value in row.items() if value is not None}


async def import_rows(service: CustomerService, *rows: dict[str, Any]) -> dict[str, Any]:
    body = {"rows": [{"file": "crm.ndjson", "line": i, "record": r} for i, r in enumerate(rows, start=1)]}
    answer = await service.client.post("/v1/imports/batches", json=body, headers=service.token("admin"))
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def customer_with_email(service: CustomerService, email: str) -> dict[str, Any]:
    page = (await service.client.get("/v1/customers", params={"email": email}, headers=service.staff)).json()
    [found] = page["items"]
    profile = await service.client.get(f"/v1/customers/{found['id']}", headers=service.staff)
    body: dict[str, Any] = profile.json()
    return body


async def verify(service: CustomerService, customer_id: str, channel: str) -> None:
    answer = await service.client.post(f"/v1/customers/{customer_id}/verifications", json={"channel": channel},
                                       headers=service.staff)
    assert answer.status_code == 200, answer.text


async def test_an_imported_change_of_a_verified_email_leaves_it_unverified(customer_service: CustomerService) -> None:
    service = customer_service
    source = f"crm-{new_id().hex[-10:]}"
    first = await import_rows(service, a_customer_row(source, phone="+905551230011"))
    assert first["created"] == 1
    customer = await customer_with_email(service, f"{source}@example.com")
    await verify(service, customer["id"], "email")
    await verify(service, customer["id"], "phone")

    moved = await import_rows(service, a_customer_row(source, phone="+905551230011",
                                                      email=f"new.{source}@example.com"))
    assert (moved["updated"], moved["rejects"]) == (1, [])
    after = await customer_with_email(service, f"new.{source}@example.com")
    assert after["id"] == customer["id"]
    assert after["verified"] == ["phone"]  # the new email is not proven; the unchanged phone still is

    # The read model agrees with the stream: the next live command starts from the same state.
    still = await service.client.post(f"/v1/customers/{customer['id']}/verifications", json={"channel": "phone"},
                                      headers=service.staff)
    assert still.json()["verified"] == ["phone"] and still.json()["version"] == after["version"]

    # A delta that changes only consents records no profile change: the customer's sealed email and phone
    # are compared opened, so the verified phone stays verified.
    profile_changes = len(await events_named(service, "CustomerProfileUpdated"))
    consents = {"email": False, "sms": True, "push": False, "phone": False}
    only_consents = await import_rows(service, a_customer_row(source, phone="+905551230011", consents=consents,
                                                              email=f"new.{source}@example.com"))
    assert only_consents["updated"] == 1
    assert len(await events_named(service, "CustomerProfileUpdated")) == profile_changes
    assert (await customer_with_email(service, f"new.{source}@example.com"))["verified"] == ["phone"]


async def events_named(service: CustomerService, event_type: str) -> list[dict[str, Any]]:
    return [e for e in await service.outbox() if e["headers"]["ce_type"].split(".")[2] == event_type]


async def test_an_import_never_merges_two_verified_customers(customer_service: CustomerService) -> None:
    service = customer_service
    tag = new_id().hex[-10:]
    one, other = f"crm-a-{tag}", f"crm-b-{tag}"
    await import_rows(service, a_customer_row(one), a_customer_row(other))
    first = await customer_with_email(service, f"{one}@example.com")
    second = await customer_with_email(service, f"{other}@example.com")
    await verify(service, first["id"], "email")
    await verify(service, second["id"], "email")

    # The source now says the second record has the first one's email: that would make them one person.
    clash = await import_rows(service, a_customer_row(other, email=f"{one}@example.com"))
    [reject] = clash["rejects"]
    assert clash["updated"] == 0 and reject["line"] == 1
    assert "never merges" in reject["reason"] and first["id"] in reject["reason"]
    for customer in (first, second):
        now = (await service.client.get(f"/v1/customers/{customer['id']}", headers=service.staff)).json()
        assert (now["status"], now["merged_into"], now["email"], now["verified"], now["version"]) == (
            "active", None, customer["email"], ["email"], customer["version"] + 1
        )
    assert await events_named(service, "CustomersMerged") == []

    # A new source record with a verified customer's email is linked to that customer, not made a second one.
    linked = await import_rows(service, a_customer_row(f"crm-c-{tag}", email=f"{one}@example.com"))
    assert (linked["linked"], linked["created"]) == (1, 0)
    assert (await customer_with_email(service, f"{one}@example.com"))["id"] == first["id"]
