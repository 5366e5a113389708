"""Self-service tokens, erasure (crypto-shredding), export, the key endpoint, and what lands on Kafka."""

from __future__ import annotations

import base64

import pytest

from shared.privacy import decrypt_value
from shared.settings import PlatformSettings
from shared.testing.kafka import drain_outbox, read_topic
from tests.customer.api.conftest import CustomerService, an_order


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
        f"/v1/customers/{customer['id']}/export", headers=customer_service.staff
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


@pytest.mark.usefixtures("platform_topics_created")
async def test_events_land_on_customer_events_with_headers_keys_and_data(
    customer_service: CustomerService, platform_settings: PlatformSettings
) -> None:
    customer = await customer_service.register()
    order = await customer_service.place_order(customer["id"])
    await customer_service.client.post(f"/v1/orders/{order['id']}/ship", headers=customer_service.staff)
    assert await drain_outbox(customer_service.dsn, platform_settings) == 3

    records = read_topic(
        platform_settings.kafka_bootstrap_servers, platform_settings.topic("customer.events"), expected=3
    )
    records.sort(
        key=lambda r: int(r.headers["ce_streamversion"]) + (0 if r.headers["ce_streamid"] != order["id"] else 10)
    )
    assert [r.headers["ce_type"] for r in records] == [
        "customer360.customer.CustomerRegistered.v1",
        "customer360.customer.OrderPlaced.v1",
        "customer360.customer.OrderShipped.v1",
    ]
    assert {r.key for r in records} == {customer["id"].encode()}
    assert len({r.partition for r in records}) == 1
    for record in records:
        assert record.headers["ce_specversion"] == "1.0"
        assert record.headers["ce_subject"] == customer["id"]
        assert record.headers["content-type"] == "application/json"
        assert record.value["customer_id"] == customer["id"]
    assert records[0].value["email"].startswith("enc:v1:")
    assert records[1].value["total"] == "47.48"


async def test_erasing_a_customer_also_forgets_the_duplicates_merged_into_them(
    customer_service: CustomerService,
) -> None:
    client, staff = customer_service.client, customer_service.staff
    admin, keys = customer_service.token("admin"), customer_service.token("keys:read")
    survivor = await customer_service.register(name="Sam Same", email="sam.one@example.com")
    duplicate = await customer_service.register(name="Sam Same", email="sam.two@example.com")
    merge = await client.post(f"/v1/customers/{survivor['id']}/merge",
                              json={"duplicate_id": duplicate["id"], "reason": "same person"}, headers=staff)
    assert merge.status_code == 200
    assert (await client.delete(f"/v1/customers/{survivor['id']}", headers=admin)).status_code == 204

    assert (await client.get(f"/v1/internal/keys/{duplicate['id']}", headers=keys)).status_code == 410
    pool, store = customer_service.app.state.pool, customer_service.app.state.store
    async with pool.acquire() as conn:
        row = await conn.fetchrow("select name, email, merged_into::text from customers where id = $1",
                                  duplicate["id"])
        history = await store.load(conn, duplicate["id"])
    assert dict(row) == {"name": None, "email": None, "merged_into": survivor["id"]}
    assert history[0].event.name is None and history[0].event.email is None  # type: ignore[attr-defined]
    again = await client.post("/v1/customers", json={"name": "Sam", "email": "sam.two@example.com"}, headers=staff)
    assert again.status_code == 201  # the duplicate's identity is released too
