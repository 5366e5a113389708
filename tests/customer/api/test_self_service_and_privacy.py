"""Self-service tokens, erasure (crypto-shredding), export, the key endpoint, and what lands on Kafka."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from services.customer.application.overdue import emit_overdue_payments
from shared.contracts.privacy import erasure_stream
from shared.events.catalog import CATALOG
from shared.events.envelope import parse_time
from shared.ids import new_id
from shared.settings import PlatformSettings
from shared.shredding import decrypt_value
from shared.testing.kafka import drain_outbox, end_offsets, read_topic
from tests.customer.api.conftest import CustomerService, a_customer, an_order


async def test_a_self_service_token_sees_and_acts_only_on_its_own_customer(
    customer_service: CustomerService,
) -> None:
    client = customer_service.client
    me, other = await customer_service.register(), await customer_service.register()
    mine = customer_service.token("self", customer_id=me["id"])

    assert (await client.get("/v1/me", headers=mine)).json()["id"] == me["id"]
    assert (await client.get(f"/v1/customers/{me['id']}", headers=mine)).status_code == 200
    assert (await client.get(f"/v1/customers/{other['id']}", headers=mine)).status_code == 403
    assert (await client.get(f"/v1/customers/{other['id']}/orders", headers=mine)).status_code == 403
    assert (await client.post("/v1/orders", json=an_order(other["id"]), headers=mine)).status_code == 403
    assert (await client.get("/v1/customers", headers=mine)).status_code == 403

    body = {k: v for k, v in an_order(me["id"]).items() if k != "customer_id"}
    placed = await client.post("/v1/me/orders", json=body, headers=mine)
    assert placed.status_code == 201 and placed.json()["customer_id"] == me["id"]
    listed = (await client.get("/v1/me/orders", headers=mine)).json()["items"]
    assert [o["id"] for o in listed] == [placed.json()["id"]]
    tracked = await client.get(f"/v1/me/orders/{placed.json()['id']}", headers=mine)
    assert tracked.json()["status"] == "placed"
    others_order = await customer_service.place_order(other["id"])
    assert (await client.get(f"/v1/orders/{others_order['id']}", headers=mine)).status_code == 403

    consents = await client.put("/v1/me/consents", json={"sms": True}, headers=mine)
    assert consents.json()["consents"]["sms"] is True
    event = (await customer_service.outbox())[-1]
    assert event["data"]["source"] == "self_service" and event["key"] == me["id"]
    assert (await client.get("/v1/me", headers=customer_service.staff)).status_code == 403


async def test_erasure_shreds_personal_data_everywhere(customer_service: CustomerService) -> None:
    client, staff = customer_service.client, customer_service.staff
    customer = await customer_service.register(email="forget.me@example.com", phone="+905551112233")
    await customer_service.place_order(customer["id"])
    url = f"/v1/customers/{customer['id']}"
    keys = customer_service.token("keys:read")
    key_answer = await client.get(f"/v1/internal/keys/{customer['id']}", headers=keys)
    assert key_answer.status_code == 200
    key = base64.b64decode(key_answer.json()["key"])
    registered = (await customer_service.outbox())[0]
    assert decrypt_value(key, customer["id"], "email", registered["data"]["email"]) == "forget.me@example.com"

    assert (await client.delete(url, headers=staff)).status_code == 403
    admin = customer_service.token("admin")
    assert (await client.delete(url, headers=admin)).status_code == 204
    assert (await client.get(url, headers=staff)).status_code == 410
    assert (await client.delete(url, headers=admin)).status_code == 410
    assert (await client.get(f"/v1/internal/keys/{customer['id']}", headers=keys)).status_code == 410
    assert (await client.post("/v1/orders", json=an_order(customer["id"]), headers=staff)).status_code == 409
    outbox = await customer_service.outbox()
    erased = next(o for o in outbox if o["headers"]["ce_type"].endswith("CustomerErased.v1"))
    assert erased["key"] == customer["id"]
    assert outbox[-1]["headers"]["ce_type"].endswith("CustomerDataErased.v1")  # its own acknowledgement

    pool, store = customer_service.app.state.pool, customer_service.app.state.store
    async with pool.acquire() as conn:
        history = await store.load(conn, customer["id"])
        row = await conn.fetchrow("select name, email, phone from customers where id = $1", customer["id"])
    assert history[0].event.email is None and history[0].event.name is None  # type: ignore[attr-defined]
    assert dict(row) == {"name": None, "email": None, "phone": None}
    again = await client.post("/v1/customers", json={"name": "New", "email": "forget.me@example.com"}, headers=staff)
    assert again.status_code == 201  # the identity is released with the data


async def test_export_holds_everything_about_the_customer(customer_service: CustomerService) -> None:
    customer = await customer_service.register(email="export.me@example.com")
    order = await customer_service.place_order(customer["id"])
    exported = await customer_service.client.get(
        f"/v1/customers/{customer['id']}/export", headers=customer_service.token("privacy:manage")
    )
    body = exported.json()
    assert body["customer"]["email"] == "export.me@example.com"
    assert [o["id"] for o in body["orders"]] == [order["id"]]
    assert [e["type"] for e in body["events"]] == ["CustomerRegistered", "OrderPlaced"]
    assert body["events"][0]["data"]["email"] == "export.me@example.com"


async def test_unknown_key_is_404_and_the_key_route_needs_its_scope(customer_service: CustomerService) -> None:
    client = customer_service.client
    assert (
        await client.get("/v1/internal/keys/nobody", headers=customer_service.token("keys:read"))
    ).status_code == 404
    assert (await client.get("/v1/internal/keys/nobody", headers=customer_service.staff)).status_code == 403


async def test_data_protection_needs_privacy_manage_not_admin_and_staff_reading_customers_cannot(
    customer_service: CustomerService,
) -> None:
    client, staff, dpo = customer_service.client, customer_service.staff, customer_service.token("privacy:manage")
    customer = await customer_service.register()
    base = f"/v1/customers/{customer['id']}"
    for url in (f"{base}/export", f"{base}/erasure"):
        refused = await client.get(url, headers=staff)  # customers:read + write: an agent's day, not a DPO's
        assert refused.status_code == 403, (url, refused.text)
        assert 'scope="privacy:manage"' in refused.headers["www-authenticate"]
    assert (await client.delete(base, headers=staff)).status_code == 403
    assert (await client.get(base, headers=staff)).json()["email"] == customer["email"]  # nothing was erased
    assert (await client.get(f"{base}/export", headers=dpo)).json()["customer"]["id"] == customer["id"]
    assert (await client.delete(base, headers=dpo)).status_code == 204
    status = await client.get(f"{base}/erasure", headers=dpo)
    assert status.status_code == 200 and status.json()["requested_at"] is not None, status.text


async def test_erasing_a_customer_also_forgets_the_duplicates_merged_into_them(
    customer_service: CustomerService,
) -> None:
    client, staff = customer_service.client, customer_service.staff
    admin, keys = customer_service.token("admin"), customer_service.token("keys:read")
    survivor = await customer_service.register(name="Sam Same", email="sam.one@example.com")
    duplicate = await customer_service.register(name="Sam Same", email="sam.two@example.com")
    merge = await client.post(
        f"/v1/customers/{survivor['id']}/merge",
        json={"duplicate_id": duplicate["id"], "reason": "same person"},
        headers=staff,
    )
    assert merge.status_code == 200
    assert (await client.delete(f"/v1/customers/{survivor['id']}", headers=admin)).status_code == 204

    assert (await client.get(f"/v1/internal/keys/{duplicate['id']}", headers=keys)).status_code == 410
    pool, store = customer_service.app.state.pool, customer_service.app.state.store
    async with pool.acquire() as conn:
        row = await conn.fetchrow("select name, email, merged_into::text from customers where id = $1", duplicate["id"])
        history = await store.load(conn, duplicate["id"])
    assert dict(row) == {"name": None, "email": None, "merged_into": survivor["id"]}
    assert history[0].event.name is None and history[0].event.email is None  # type: ignore[attr-defined]
    again = await client.post("/v1/customers", json={"name": "Sam", "email": "sam.two@example.com"}, headers=staff)
    assert again.status_code == 201  # the duplicate's identity is released too
    assert (await client.get(f"/v1/customers/{duplicate['id']}", headers=staff)).status_code == 410
    assert (await client.get(f"/v1/customers/{duplicate['id']}/orders", headers=staff)).status_code == 410
    dup_url = f"/v1/customers/{duplicate['id']}"
    assert (await client.delete(dup_url, headers=admin)).status_code == 410
    assert (await client.patch(dup_url, json={"address": "x"}, headers=staff)).status_code == 410
    unmerge = await client.post(
        f"/v1/customers/{survivor['id']}/unmerge", json={"duplicate_id": duplicate["id"]}, headers=staff
    )
    assert unmerge.status_code == 410
    assert (await client.post("/v1/orders", json=an_order(duplicate["id"]), headers=staff)).status_code == 409


async def test_a_self_service_token_is_refused_everything_of_another_customer_and_staff_operations(
    customer_service: CustomerService,
) -> None:
    client, staff = customer_service.client, customer_service.staff
    me, other = await customer_service.register(), await customer_service.register()
    mine = customer_service.token("self", customer_id=me["id"])
    my_order = await customer_service.place_order(me["id"])
    their_order = await customer_service.place_order(other["id"])
    theirs = f"/v1/customers/{other['id']}"
    refused = [
        ("GET", f"{theirs}/export", None),
        ("PUT", f"{theirs}/consents", {"sms": True}),
        ("GET", f"/v1/me/orders/{their_order['id']}", None),
        ("PATCH", f"/v1/customers/{me['id']}", {"address": "x"}),  # profile changes are staff work
        ("PUT", f"/v1/customers/{me['id']}/account-manager", {"account_manager_id": "emp-1"}),
        ("POST", f"/v1/customers/{me['id']}/merge", {"duplicate_id": other["id"], "reason": "x"}),
        ("DELETE", f"/v1/customers/{me['id']}", None),
        ("POST", f"/v1/orders/{my_order['id']}/ship", None),
        ("POST", "/v1/invoices", {"order_id": my_order["id"], "due_date": "2026-04-01"}),
        ("GET", "/v1/customers/duplicates", None),
        ("GET", f"/v1/internal/keys/{me['id']}", None),
    ]
    before = len(await customer_service.outbox())
    for method, url, body in refused:
        response = await client.request(method, url, json=body, headers=mine)
        assert response.status_code == 403, (method, url, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert len(await customer_service.outbox()) == before

    assert (
        await client.put(f"/v1/customers/{me['id']}/consents", json={"push": True}, headers=mine)
    ).status_code == 200
    assert (await client.get(f"/v1/customers/{me['id']}/export", headers=mine)).status_code == 200
    placed = await client.post("/v1/orders", json=an_order(me["id"]), headers=mine)
    assert placed.status_code == 201
    tracked = await client.get(f"/v1/orders/{my_order['id']}", headers=mine)
    assert tracked.json()["status"] == "placed"
    only_placed = await client.get("/v1/me/orders", params={"status": "placed", "limit": 1}, headers=mine)
    assert len(only_placed.json()["items"]) == 1 and only_placed.json()["next_cursor"]
    assert (await client.get(f"/v1/customers/{other['id']}", headers=staff)).status_code == 200
    nobody = customer_service.token("self", customer_id=str(new_id()))
    assert (await client.get("/v1/me", headers=nobody)).status_code == 404


async def test_merged_away_or_erased_self_service_customers_cannot_order_for_themselves(
    customer_service: CustomerService,
) -> None:
    client, staff = customer_service.client, customer_service.staff
    survivor, duplicate, erased = [await customer_service.register() for _ in range(3)]
    await client.post(
        f"/v1/customers/{survivor['id']}/merge", json={"duplicate_id": duplicate["id"], "reason": "same"}, headers=staff
    )
    await client.delete(f"/v1/customers/{erased['id']}", headers=customer_service.token("admin"))
    body = {k: v for k, v in an_order(duplicate["id"]).items() if k != "customer_id"}
    for who, status, me_status in ((duplicate, 409, 200), (erased, 409, 410)):
        token = customer_service.token("self", customer_id=who["id"])
        response = await client.post("/v1/me/orders", json=body, headers=token)
        assert response.status_code == status, response.text
        assert (await client.get("/v1/me", headers=token)).status_code == me_status
    merged = customer_service.token("self", customer_id=duplicate["id"])
    assert (await client.get("/v1/me", headers=merged)).json()["merged_into"] == survivor["id"]


async def test_after_erasure_every_read_is_410_and_stored_answers_forget_the_person(
    customer_service: CustomerService,
) -> None:
    client, staff = customer_service.client, customer_service.staff
    registration = a_customer(name="Forget Me", email="forget.answers@example.com", phone="+905551112299")
    headers = {**staff, "Idempotency-Key": f"r-{new_id()}"}
    customer = (await client.post("/v1/customers", json=registration, headers=headers)).json()
    await customer_service.place_order(customer["id"])
    mine = customer_service.token("self", customer_id=customer["id"])
    assert (
        await client.delete(f"/v1/customers/{customer['id']}", headers=customer_service.token("admin"))
    ).status_code == 204

    for url, token in [
        (f"/v1/customers/{customer['id']}", staff),
        (f"/v1/customers/{customer['id']}/orders", staff),
        (f"/v1/customers/{customer['id']}/export", customer_service.token("privacy:manage")),
        ("/v1/me", mine),
        (f"/v1/customers/{customer['id']}/export", mine),
    ]:
        response = await client.get(url, headers=token)
        assert response.status_code == 410, (url, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    for method, url, body in [
        ("PATCH", f"/v1/customers/{customer['id']}", {"address": "x"}),
        ("PUT", f"/v1/customers/{customer['id']}/consents", {"sms": True}),
    ]:
        assert (await client.request(method, url, json=body, headers=staff)).status_code == 410

    replay = await client.post("/v1/customers", json=registration, headers=headers)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == customer["id"]
    assert (replay.json()["name"], replay.json()["email"], replay.json()["phone"]) == (None, None, None)
    async with customer_service.app.state.pool.acquire() as conn:
        stored = await conn.fetchval("select count(*) from idempotency_keys where body::text like '%forget%'")
        key = await conn.fetchrow("select key, destroyed_at from personal_data_keys where subject = $1", customer["id"])
    assert stored == 0
    assert key["key"] is None and key["destroyed_at"] is not None


async def test_export_includes_billing_and_merged_duplicates_until_an_unmerge(
    customer_service: CustomerService,
) -> None:
    client, staff = customer_service.client, customer_service.staff
    customer = await customer_service.register(email="export.all@example.com")
    duplicate = await customer_service.register(email="export.dup@example.com")
    order = await customer_service.place_order(customer["id"])
    invoice = (
        await client.post("/v1/invoices", json={"order_id": order["id"], "due_date": "2026-03-10"}, headers=staff)
    ).json()
    payment = (
        await client.post(
            "/v1/payments", json={"invoice_id": invoice["id"], "amount": "7.48", "method": "cash"}, headers=staff
        )
    ).json()
    their_order = await customer_service.place_order(duplicate["id"])
    await client.post(
        f"/v1/customers/{customer['id']}/merge",
        json={"duplicate_id": duplicate["id"], "reason": "same person"},
        headers=staff,
    )

    url, dpo = f"/v1/customers/{customer['id']}/export", customer_service.token("privacy:manage")
    body = (await client.get(url, headers=dpo)).json()
    assert body["customer"]["email"] == "export.all@example.com"
    assert [d["email"] for d in body["merged_duplicates"]] == ["export.dup@example.com"]
    assert {o["id"] for o in body["orders"]} == {order["id"], their_order["id"]}
    assert [i["id"] for i in body["invoices"]] == [invoice["id"]] and body["invoices"][0]["paid"] == "7.48"
    assert [p["id"] for p in body["payments"]] == [payment["id"]]
    types = [(e["subject"], e["type"]) for e in body["events"]]
    assert types == [
        (customer["id"], "CustomerRegistered"),
        (duplicate["id"], "CustomerRegistered"),
        (customer["id"], "OrderPlaced"),
        (customer["id"], "InvoiceIssued"),
        (customer["id"], "PaymentReceived"),
        (duplicate["id"], "OrderPlaced"),
        (customer["id"], "CustomersMerged"),
    ]
    assert body["events"][-1]["data"]["reason"] == "same person"  # decrypted for the person themself
    assert body["exported_at"] == "2026-03-01T09:00:00.000000Z"

    await client.post(f"/v1/customers/{customer['id']}/unmerge", json={"duplicate_id": duplicate["id"]}, headers=staff)
    separated = (await client.get(url, headers=dpo)).json()
    assert separated["merged_duplicates"] == []
    assert [o["id"] for o in separated["orders"]] == [order["id"]]
    assert duplicate["id"] not in {e["subject"] for e in separated["events"]}
    theirs = (await client.get(f"/v1/customers/{duplicate['id']}/export", headers=dpo)).json()
    assert [o["id"] for o in theirs["orders"]] == [their_order["id"]]


EVERY_TYPE_OF_ONE_CUSTOMER = [
    ("CustomerRegistered", "customer"),
    ("CustomerProfileUpdated", "customer"),
    ("ContactPreferencesChanged", "customer"),
    ("AccountManagerAssigned", "customer"),
    ("ServiceFollowupsChanged", "customer"),
    ("CustomerNoteWritten", "note1"),
    ("FollowUpScheduled", "follow_up1"),
    ("FollowUpSnoozed", "follow_up1"),
    ("FollowUpCompleted", "follow_up1"),
    ("CustomerNoteWritten", "note2"),
    ("FollowUpScheduled", "follow_up2"),
    ("FollowUpCancelled", "follow_up2"),
    ("ContactVerified", "customer"),
    ("CustomersMerged", "customer"),
    ("ContactPreferencesChanged", "customer"),  # the merge narrows sms: the duplicate never granted it
    ("CustomersUnmerged", "customer"),
    ("ContactPreferencesChanged", "customer"),  # the unmerge gives it back
    ("OrderPlaced", "order1"),
    ("OrderShipped", "order1"),
    ("OrderDelivered", "order1"),
    ("OrderReturned", "order1"),
    ("OrderPlaced", "order2"),
    ("OrderCancelled", "order2"),
    ("OrderPlaced", "order3"),
    ("InvoiceIssued", "invoice"),
    ("PaymentReceived", "invoice"),
    ("PaymentOverdue", "invoice"),
    ("CustomerErased", "customer"),
    ("CustomerDataErased", "erasure"),
]


@pytest.mark.usefixtures("platform_topics_created")
async def test_every_event_lands_on_customer_events_keyed_typed_and_shredded(
    customer_service: CustomerService, platform_settings: PlatformSettings
) -> None:
    """Every event type on the real topic: one partition per customer, in order, with its headers and data."""
    client, staff = customer_service.client, customer_service.staff
    tag = new_id().hex[-8:]
    name, email, phone = f"Kafka Probe {tag}", f"kafka.probe.{tag}@example.com", "+905557770011"
    person = await customer_service.register(name=name, email=email, phone=phone, birth_date="1985-02-03")
    other = await customer_service.register(name=name, email=f"kafka.probe.{tag}+b@example.com")
    cid, url = person["id"], f"/v1/customers/{person['id']}"
    assert (await client.patch(url, json={"name": f"{name}a"}, headers={**staff, "If-Match": '"1"'})).status_code == 200
    await client.put(f"{url}/consents", json={"sms": True}, headers=staff)
    await client.put(f"{url}/account-manager", json={"account_manager_id": "emp-1"}, headers=staff)
    await client.put(f"{url}/consents", json={"service_followups": False}, headers=staff)
    streams: dict[str, str] = {}
    for n, last in ((1, ("snooze", "complete")), (2, ("cancel",))):
        written = await client.post(f"{url}/notes", headers={**staff, "Idempotency-Key": new_id().hex}, json={
            "text": f"{name} asked about the new line", "follow_up": {"due_at": "2026-04-01T09:00:00Z"}})
        assert written.status_code == 201, written.text
        streams[f"note{n}"], follow_up = written.json()["id"], written.json()["follow_up"]
        streams[f"follow_up{n}"] = follow_up["id"]
        for version, action in enumerate(last, start=follow_up["version"]):
            body = {"until": "2026-04-08T09:00:00Z"} if action == "snooze" else None
            acted = await client.post(f"/v1/follow-ups/{follow_up['id']}/{action}", json=body,
                                      headers={**staff, "If-Match": f'"{version}"'})
            assert acted.status_code == 200, acted.text
    await client.post(f"{url}/verifications", json={"channel": "email", "method": "link"}, headers=staff)
    await client.post(f"{url}/merge", json={"duplicate_id": other["id"], "reason": "same"}, headers=staff)
    await client.post(f"{url}/unmerge", json={"duplicate_id": other["id"]}, headers=staff)
    streams.update({"customer": cid, "erasure": erasure_stream(cid)})
    streams["order1"] = (await customer_service.place_order(cid))["id"]
    for action in ("ship", "deliver", "return"):
        assert (await client.post(f"/v1/orders/{streams['order1']}/{action}", headers=staff)).status_code == 200
    streams["order2"] = (await customer_service.place_order(cid))["id"]
    await client.post(f"/v1/orders/{streams['order2']}/cancel", headers=staff)
    streams["order3"] = (await customer_service.place_order(cid))["id"]
    invoice = await client.post(
        "/v1/invoices", json={"order_id": streams["order3"], "due_date": "2026-03-10"}, headers=staff
    )
    streams["invoice"] = invoice.json()["id"]
    await client.post(
        "/v1/payments", json={"invoice_id": streams["invoice"], "amount": "10.00", "method": "card"}, headers=staff
    )
    pool, store = customer_service.app.state.pool, customer_service.app.state.store
    assert await emit_overdue_payments(pool, store, datetime(2026, 3, 15, tzinfo=UTC)) == 1
    assert (await client.delete(url, headers=customer_service.token("admin"))).status_code == 204

    drained = await drain_outbox(customer_service.dsn, platform_settings)
    assert drained == len(EVERY_TYPE_OF_ONE_CUSTOMER) + 1
    topic, bootstrap = platform_settings.topic("customer.events"), platform_settings.kafka_bootstrap_servers
    records = read_topic(bootstrap, topic, expected=drained)
    assert len(records) == drained == end_offsets(bootstrap, topic)

    [registered_other] = [r for r in records if r.key == other["id"].encode()]
    assert registered_other.headers["ce_type"] == "customer360.customer.CustomerRegistered.v1"
    mine = sorted((r for r in records if r.key == cid.encode()), key=lambda r: r.offset)
    assert len({r.partition for r in mine}) == 1  # keyed by customer: one partition, in order
    assert [(r.headers["ce_type"].split(".")[2], r.headers["ce_streamid"]) for r in mine] == [
        (event_type, streams[stream]) for event_type, stream in EVERY_TYPE_OF_ONE_CUSTOMER
    ]
    assert len({r.headers["ce_id"] for r in records}) == drained
    versions: dict[str, int] = {}
    for record in mine:
        headers = record.headers
        domain = "privacy" if headers["ce_type"].endswith("CustomerDataErased.v1") else "customer"
        event_type = headers["ce_type"].split(".")[2]
        assert headers["ce_type"] == f"customer360.{domain}.{event_type}.v{CATALOG.latest_version(event_type)}"
        assert headers["ce_specversion"] == "1.0" and headers["ce_source"] == "/customer360/customer"
        assert headers["ce_subject"] == cid and headers["content-type"] == "application/json"
        assert parse_time(headers["ce_time"]).tzinfo is not None
        stream = headers["ce_streamid"]
        versions[stream] = versions.get(stream, 0) + 1
        assert headers["ce_streamversion"] == str(versions[stream])
        assert record.value["customer_id"] == cid

    data = {r.headers["ce_type"].split(".")[2]: r.value for r in mine}
    registered = data["CustomerRegistered"]
    for field in ("name", "email", "phone", "birth_date"):
        assert registered[field].startswith("enc:v1:"), field
    assert (registered["acquisition_channel"], registered["relationship_type"], registered["timezone"]) == (
        "web",
        "long_term",
        "Europe/Istanbul",
    )
    assert registered["consents"] == {"email": True, "sms": False, "push": False, "phone": False,
                                      "service_followups": True}
    assert registered["acquisition_cost"] == "25.00" and registered["interests"] == ["coffee", "tea"]
    assert data["CustomerNoteWritten"]["text"].startswith("enc:v1:")  # an agent's note is personal text
    assert data["ServiceFollowupsChanged"]["granted"] is False
    assert data["CustomerProfileUpdated"]["changed_fields"] == ["name"]
    assert data["CustomerProfileUpdated"]["name"].startswith("enc:v1:")
    consents = [r.value for r in mine if r.headers["ce_type"].split(".")[2] == "ContactPreferencesChanged"]
    assert [(c["channel"], c["granted"], c["source"], c["because"], c["duplicate_id"]) for c in consents] == [
        ("sms", True, "operator", None, None),
        ("sms", False, "operator", "merge", other["id"]),
        ("sms", True, "operator", "unmerge", other["id"]),
    ]
    assert consents[0]["changed_at"] == "2026-03-01T09:00:00Z"
    assert (data["ContactVerified"]["channel"], data["ContactVerified"]["method"]) == ("email", "link")
    assert data["AccountManagerAssigned"]["account_manager_id"] == "emp-1"
    merged = data["CustomersMerged"]
    assert (merged["duplicate_id"], merged["evidence"], merged["merged_by"]) == (
        other["id"],
        ["email", "name"],
        "tester",
    )
    assert merged["reason"].startswith("enc:v1:")
    assert {c["channel"]: (c["survivor"], c["duplicate"], c["after"], c["winner"]) for c in merged["consents"]} == {
        "email": (True, True, True, "both"),
        "sms": (True, False, False, "duplicate"),
        "push": (False, False, False, "both"),
        "phone": (False, False, False, "both"),
    }
    assert merged["verified_identities_confirmed"] is False
    assert data["CustomersUnmerged"]["duplicate_id"] == other["id"]
    assert data["CustomersUnmerged"]["consents_restored"] == [{"channel": "sms", "before": False, "after": True}]
    placed = next(r.value for r in mine if r.headers["ce_streamid"] == streams["order1"])
    assert (placed["total"], placed["cost"], placed["margin"], placed["offer_code"]) == (
        "47.48",
        "28.00",
        "19.48",
        "SPRING",
    )
    assert [(line["sku"], line["quantity"], line["line_total"]) for line in placed["lines"]] == [
        ("K-1", 2, "39.98"),
        ("C-9", 1, "7.50"),
    ]
    assert data["OrderReturned"]["refund_amount"] == "47.48"
    assert data["OrderCancelled"]["total"] == "47.48"
    assert (data["InvoiceIssued"]["amount"], data["InvoiceIssued"]["due_date"]) == ("47.48", "2026-03-10")
    paid = data["PaymentReceived"]
    assert (paid["amount"], paid["outstanding"], paid["method"], paid["fully_paid"]) == (
        "10.00",
        "37.48",
        "card",
        False,
    )
    overdue = data["PaymentOverdue"]
    assert (overdue["days_overdue"], overdue["outstanding"], overdue["invoice_id"]) == (5, "37.48", streams["invoice"])
    assert data["CustomerErased"]["erased_by"] == "tester"
    assert data["CustomerDataErased"]["service"] == "customer"

    # Crypto-shredded: nothing on the topic reads as the person, and the key that opens it is gone.
    for record in records:
        for secret in (name, email, phone, phone[1:], "1985-02-03"):
            assert secret.encode() not in record.raw_value, (record.headers["ce_type"], secret)
    keys = customer_service.token("keys:read")
    assert (await client.get(f"/v1/internal/keys/{cid}", headers=keys)).status_code == 410
    async with pool.acquire() as conn:
        replayed = await store.load(conn, cid)
    assert replayed[0].event.name is None and replayed[0].event.email is None  # type: ignore[attr-defined]
    assert replayed[1].event.name is None  # type: ignore[attr-defined]


async def test_a_customer_never_erased_has_an_empty_erasure_ledger_and_an_unknown_one_is_404(
    customer_service: CustomerService,
) -> None:
    admin = customer_service.token("admin")
    customer = await customer_service.register()
    ledger = await customer_service.client.get(f"/v1/customers/{customer['id']}/erasure", headers=admin)
    unknown = await customer_service.client.get(f"/v1/customers/{new_id()}/erasure", headers=admin)

    assert ledger.status_code == 200, ledger.text
    assert ledger.json() == {"customer_id": customer["id"], "requested_at": None, "complete": False,
                             "completed_at": None, "services": []}
    assert unknown.status_code == 404
