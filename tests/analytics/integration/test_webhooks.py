"""Outbound webhooks end to end: events from real Kafka topics, a real HTTP receiver that fails, stalls
and recovers, the real database, the API (docs/webhooks.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from standardwebhooks import Webhook

from services.analytics.application.webhooks import ROUTER_NAME
from services.analytics.bootstrap import webhook_delivery, webhook_router_worker
from services.analytics.config import AnalyticsSettings
from shared.events.catalog import CATALOG
from shared.events.envelope import source_for, to_kafka
from shared.shredding import encrypt_fields
from shared.store.db import create_pool
from shared.testing.kafka import drain_outbox, make_producer, read_topic
from shared.testing.waiting import eventually
from shared.web.auth import mint_token
from tests.analytics.builders import at, new_customer_id, order_placed, registered
from tests.analytics.integration.support import analytics_settings, api, envelope_of, token
from tests.analytics.integration.webhook_receiver import running_receiver

CUSTOMER_SOURCE = source_for("customer")


class StaticKeys:
    """The producers' data keys, as ``RemoteKeyProvider`` would fetch them (a destroyed key is absent)."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], bytes] = {}

    def key(self, subject: str) -> bytes:
        return self.keys.setdefault((CUSTOMER_SOURCE, subject), uuid.uuid4().bytes + uuid.uuid4().bytes)

    async def keys_for(self, source: str, subjects: set[str]) -> Mapping[str, bytes]:
        return {s: self.keys[(source, s)] for s in subjects if (source, s) in self.keys}


def fast(settings: AnalyticsSettings, **overrides: Any) -> AnalyticsSettings:
    """Retries in tens of milliseconds and a half-second timeout, so a test sees the whole schedule."""
    values = {"analytics_webhook_retry_initial_seconds": 0.05, "analytics_webhook_retry_factor": 2.0,
              "analytics_webhook_retry_max_seconds": 0.5, "analytics_webhook_timeout_seconds": 0.5,
              "analytics_webhook_max_attempts": 6, "analytics_webhook_disable_after": 50,
              "analytics_webhook_poll_seconds": 0.5, **overrides}
    return AnalyticsSettings(**{**settings.model_dump(), **values})


def publish(settings: AnalyticsSettings, facts: Sequence[Any], keys: StaticKeys | None = None) -> None:
    """Publish facts to their real topics as the relay would, personal fields sealed when keys are given."""
    producer = make_producer(settings.kafka_bootstrap_servers)
    try:
        for fact in facts:
            envelope = envelope_of(fact)
            personal = CATALOG.model(fact.event_type).personal_fields()
            if keys is not None and personal:
                sealed = encrypt_fields(envelope.data_dict(), personal, keys.key(envelope.subject), envelope.subject)
                envelope = dataclasses.replace(envelope, data=orjson.dumps(sealed))
            key, value, headers = to_kafka(envelope)
            producer.send(settings.topic(f"{envelope.type_name.domain}.events"), key=key, value=value, headers=headers)
        producer.flush(30)
    finally:
        producer.close(10)


async def in_thread(function: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)


@asynccontextmanager
async def webhooks_running(settings: AnalyticsSettings, keys: StaticKeys) -> AsyncIterator[Any]:
    """The ``c360 worker analytics webhooks`` process's two halves, inside the test's loop."""
    router = webhook_router_worker(settings, keys=keys)
    pool = await create_pool(settings.read_model_dsn, min_size=1, max_size=8)
    worker, _, sender = webhook_delivery(settings, pool, keys=keys)
    stop = asyncio.Event()
    await router.start()
    delivering = asyncio.create_task(worker.run(stop, listen_dsn=settings.database_url))
    try:
        yield worker
    finally:
        stop.set()
        await delivering
        await router.stop()
        await sender.close()
        await pool.close()


async def subscribe(client: Any, settings: AnalyticsSettings, **body: Any) -> dict[str, Any]:
    answer = await client.post("/v1/webhooks/subscriptions", json=body, headers=token(settings, "admin"))
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def delivered_to(receiver: Any, path: str) -> Any:
    """A probe for ``eventually``: how many requests to ``path`` were answered 2xx."""

    async def count() -> int:
        return len(receiver.delivered(path))

    return count


def requests_to(receiver: Any, path: str) -> Any:
    """A probe for ``eventually``: how many requests reached ``path``, whatever they were answered."""

    async def count() -> int:
        return len(receiver.at(path))

    return count


def by_type(requests: Sequence[Any], subject: str) -> list[str]:
    return [r.json["type"] for r in requests if r.json["subject"] == subject]


async def test_deliveries_are_signed_retried_with_backoff_in_order_per_customer_and_logged(
    make_database, platform_topics_created
) -> None:
    # A's retries span about three seconds, so "B did not wait for A" holds with a wide margin on a busy machine.
    settings = fast(analytics_settings(platform_topics_created, await make_database("analytics")),
                    analytics_webhook_retry_initial_seconds=0.5, analytics_webhook_retry_max_seconds=1.0)
    keys = StaticKeys()
    a, b = new_customer_id(), new_customer_id()
    async with running_receiver(slow_seconds=1.5) as receiver, api(settings) as client:
        crm = await subscribe(client, settings, url=receiver.url("/crm"),
                              event_types=["CustomerRegistered", "OrderPlaced"],
                              filter=[{"field": "total", "op": "gte", "value": "500"}])
        full = await subscribe(client, settings, url=receiver.url("/full"), event_types=["CustomerRegistered"],
                               personal_data=True)
        # A's first delivery: 500, 500, then a stalled answer past the timeout, then it works.
        receiver.script("/crm", "fail", "fail", "slow", subject=a)
        await in_thread(publish, settings, [
            registered(a, at(0), name="Ada Lovelace", email="ada@example.com"),
            order_placed(a, at(1), total="900.00"),
            order_placed(a, at(2), total="100.00"),  # filtered out: total < 500
            registered(b, at(0), name="Bob Brown", email="bob@example.com"),
            order_placed(b, at(1), total="1000.00"),
        ], keys)
        async with webhooks_running(settings, keys):
            await eventually(delivered_to(receiver, "/crm"), until=lambda n: n >= 4, timeout=60,
                             message="four deliveries to /crm")
            await eventually(delivered_to(receiver, "/full"), until=lambda n: n >= 2, timeout=30,
                             message="two deliveries to /full")
            log = (await client.get(f"/v1/webhooks/subscriptions/{crm['id']}/deliveries",
                                    headers=token(settings, "admin"))).json()

        delivered = receiver.delivered("/crm")
        assert len(delivered) == 4  # at least once, and here exactly once each: no duplicate after success
        for request in [*delivered, *receiver.delivered("/full")]:
            secret = crm["secret"] if request.path == "/crm" else full["secret"]
            Webhook(secret).verify(request.body, request.headers)  # raises on a bad signature
        # In order per customer, the filter applied, and B never waited for A's failing endpoint.
        assert by_type(delivered, a) == ["CustomerRegistered", "OrderPlaced"]
        assert by_type(delivered, b) == ["CustomerRegistered", "OrderPlaced"]
        a_registration = next(r for r in delivered if r.json["subject"] == a)
        a_order_first_seen = min(r.at for r in receiver.at("/crm") if r.json["subject"] == a
                                 and r.json["type"] == "OrderPlaced")
        assert a_order_first_seen > a_registration.at
        assert max(r.at for r in delivered if r.json["subject"] == b) < a_registration.at
        # Every attempt of one delivery carries the same webhook-id, so the receiver can deduplicate.
        attempts = [r for r in receiver.at("/crm") if r.json["subject"] == a and r.json["type"] == "CustomerRegistered"]
        assert len(attempts) == 4 and len({r.headers["webhook-id"] for r in attempts}) == 1
        # Personal data only where allowed: withheld (null) for /crm, opened for /full.
        assert a_registration.json["personal_data"] == "withheld"
        assert a_registration.json["data"]["name"] is None and a_registration.json["data"]["email"] is None
        assert a_registration.json["data"]["acquisition_channel"] == "web"
        opened = {r.json["subject"]: r.json["data"]["name"] for r in receiver.delivered("/full")}
        assert opened == {a: "Ada Lovelace", b: "Bob Brown"}
        # The delivery log: attempts, status codes, latency.
        entry = next(i for i in log["items"] if i["customer_key"] == a and i["event_type"] == "CustomerRegistered")
        assert entry["status"] == "delivered" and entry["attempts"] == 4
        assert [x["status_code"] for x in entry["attempt_log"]] == [500, 500, None, 200]
        assert "timeout" in entry["attempt_log"][2]["error"]
        assert entry["attempt_log"][2]["latency_ms"] >= 450
        assert all(x["latency_ms"] > 0 for x in entry["attempt_log"])
        assert entry["id"] == attempts[0].headers["webhook-id"]
        assert {i["status"] for i in log["items"]} == {"delivered"} and len(log["items"]) == 4

    pool = await create_pool(settings.read_model_dsn, min_size=1, max_size=1)
    try:
        stored = await pool.fetchval("select string_agg(payload::text, ' ') from public.webhook_deliveries")
    finally:
        await pool.close()
    for secret in ("Ada Lovelace", "ada@example.com", "Bob Brown"):
        assert secret not in stored  # sealed at rest, opened only on the way out


async def test_failures_dead_letter_disable_the_endpoint_with_an_event_and_recovery_resumes(
    make_database, platform_topics_created
) -> None:
    settings = fast(analytics_settings(platform_topics_created, await make_database("analytics")),
                    analytics_webhook_max_attempts=2, analytics_webhook_disable_after=4)
    keys = StaticKeys()
    cid = new_customer_id()
    admin = token(settings, "admin")
    async with running_receiver() as receiver, api(settings) as client:
        receiver.script("/down", then="fail")
        sub = await subscribe(client, settings, url=receiver.url("/down"), event_types=["OrderPlaced"])
        path = f"/v1/webhooks/subscriptions/{sub['id']}"
        orders = [order_placed(cid, at(n), total=f"{n}00.00") for n in (1, 2, 3)]
        await in_thread(publish, settings, orders, keys)
        async with webhooks_running(settings, keys):

            async def status() -> str:
                return str((await client.get(path, headers=admin)).json()["status"])

            await eventually(status, until=lambda s: s == "disabled", timeout=60, message="endpoint disabled")
            dead = (await client.get(path + "/dead-letters", headers=admin)).json()["items"]
            waiting = (await client.get(path + "/deliveries", params={"status": "pending"}, headers=admin)).json()
            # Two attempts each for the first two orders, in order; the third waits untried.
            assert [r.json["data"]["total"] for r in receiver.at("/down")] == ["100.00", "100.00", "200.00", "200.00"]
            assert sorted(d["event_time"] for d in dead) == [d["event_time"] for d in reversed(dead)]
            assert [d["attempts"] for d in dead] == [2, 2]
            assert [d["last_status_code"] for d in dead] == [500, 500]
            assert [(w["attempts"], w["status"]) for w in waiting["items"]] == [(0, "pending")]
            view = (await client.get(path, headers=admin)).json()
            assert view["consecutive_failures"] == 4 and "4 failed attempts in a row" in view["disabled_reason"]

            # The receiver recovers; an operator re-enables it and puts the dead letters back in line.
            receiver.defaults["/down"] = "ok"
            etag = (await client.get(path, headers=admin)).headers["ETag"]
            enabled = await client.patch(path, json={"status": "active"}, headers={**admin, "If-Match": etag})
            assert enabled.status_code == 200 and enabled.json()["consecutive_failures"] == 0
            requeued = await client.post(path + "/dead-letters/redeliver", headers=admin)
            assert requeued.json() == {"requeued": 2}
            await eventually(delivered_to(receiver, "/down"), until=lambda n: n == 3, timeout=30,
                             message="all three orders delivered after recovery")
            assert (await client.get(path + "/dead-letters", headers=admin)).json()["items"] == []
    assert sorted(r.json["data"]["total"] for r in receiver.delivered("/down")) == ["100.00", "200.00", "300.00"]

    assert await drain_outbox(settings.database_url, settings) >= 1
    published = await in_thread(lambda: read_topic(settings.kafka_bootstrap_servers,
                                                   settings.topic("analytics.events"), expected=1))
    disabled = [r for r in published if "WebhookEndpointDisabled" in r.headers["ce_type"]]
    assert len(disabled) == 1
    assert disabled[0].key.decode() == sub["id"]
    assert disabled[0].value["subscription_id"] == sub["id"]
    assert disabled[0].value["consecutive_failures"] == 4 and disabled[0].value["last_status_code"] == 500


async def test_a_replay_sends_again_what_happened_since_an_instant_read_back_from_the_topics(
    make_database, platform_topics_created
) -> None:
    settings = fast(analytics_settings(platform_topics_created, await make_database("analytics")))
    keys = StaticKeys()
    cid = new_customer_id()
    admin = token(settings, "admin")
    await in_thread(publish, settings, [order_placed(cid, at(n), total=f"{n}0.00") for n in (1, 5, 10)], keys)
    async with running_receiver() as receiver, api(settings) as client, webhooks_running(settings, keys):
        pool = await create_pool(settings.read_model_dsn, min_size=1, max_size=1)
        try:
            await eventually(lambda: pool.fetchval("select count(*) from inbox where consumer = $1", ROUTER_NAME),
                             until=lambda n: n == 3, timeout=60, message="the router read the three orders")
        finally:
            await pool.close()
        # Subscribed after the fact: nothing was routed to it live.
        sub = await subscribe(client, settings, url=receiver.url("/late"), event_types=["OrderPlaced"])
        path = f"/v1/webhooks/subscriptions/{sub['id']}"
        replay = await client.post(path + "/replays", json={"since": at(4).isoformat()}, headers=admin)
        assert replay.status_code == 202, replay.text
        await eventually(delivered_to(receiver, "/late"), until=lambda n: n == 2, timeout=60,
                         message="the two orders since day 4 replayed")

        async def replays() -> list[dict[str, Any]]:
            return list((await client.get(path + "/replays", headers=admin)).json()["items"])

        done = await eventually(replays, until=lambda r: r[0]["status"] == "done", timeout=30, message="replay done")
    assert [r.json["data"]["total"] for r in receiver.delivered("/late")] == ["50.00", "100.00"]
    assert done[0]["events_matched"] == 2 and done[0]["events_read"] >= 3
    for request in receiver.delivered("/late"):
        Webhook(sub["secret"]).verify(request.body, request.headers)


async def test_delivery_survives_the_database_going_away_and_coming_back(
    make_database, platform_topics_created
) -> None:
    """A PostgreSQL restart ends every session and refuses new ones for a while: the worker stands down,
    retries, queues for the lock again and goes on (it used to end, taking the process with it)."""
    settings = fast(analytics_settings(platform_topics_created, await make_database("analytics")))
    keys = StaticKeys()
    cid = new_customer_id()
    admin_pool = await create_pool(settings.database_url.rsplit("/", 1)[0] + "/postgres", min_size=1, max_size=1)
    database = settings.read_model_dsn.rsplit("/", 1)[1].split("?")[0]
    try:
        async with running_receiver() as receiver, api(settings) as client:
            await subscribe(client, settings, url=receiver.url("/orders"), event_types=["OrderPlaced"])
            await in_thread(publish, settings, [order_placed(cid, at(1), total="100.00")], keys)
            async with webhooks_running(settings, keys) as worker:
                await eventually(delivered_to(receiver, "/orders"), until=lambda n: n == 1, timeout=60,
                                 message="the first order delivered")
                await admin_pool.execute(f'alter database "{database}" allow_connections false')
                try:
                    await admin_pool.fetchval("select count(pg_terminate_backend(pid)) from pg_stat_activity"
                                              " where datname = $1", database)

                    async def interruptions() -> int:
                        return worker.stats.interruptions

                    await eventually(interruptions, until=lambda n: n >= 2, timeout=60,
                                     message="the worker to meet the outage and retry")
                finally:
                    await admin_pool.execute(f'alter database "{database}" allow_connections true')
                await in_thread(publish, settings, [order_placed(cid, at(2), total="200.00")], keys)

                async def totals() -> list[str]:
                    return [r.json["data"]["total"] for r in receiver.delivered("/orders")]

                await eventually(totals, until=lambda seen: "200.00" in seen, timeout=60,
                                 message="the order published after the outage delivered")
    finally:
        await admin_pool.close()
    # At least once: the outage may cut the worker off after the receiver answered and before the
    # attempt was recorded, and the first order is sent again, with the same webhook-id (receivers
    # deduplicate by it). Each message arrives, in order, and a repeat is the same message.
    delivered = receiver.delivered("/orders")
    first_seen: dict[str, str] = {}
    for request in delivered:
        first_seen.setdefault(request.headers["webhook-id"], request.json["data"]["total"])
    assert list(first_seen.values()) == ["100.00", "200.00"]
    assert all(first_seen[r.headers["webhook-id"]] == r.json["data"]["total"] for r in delivered)
    assert delivered[-1].json["data"]["total"] == "200.00"


async def test_subscriptions_are_data_with_a_secret_shown_once_and_rotated(settings) -> None:
    admin = token(settings, "admin")
    async with api(settings) as client:
        created = await subscribe(client, settings, url="http://127.0.0.1:9/hook", event_types=["*"],
                                  description="all events")
        path = f"/v1/webhooks/subscriptions/{created['id']}"
        assert created["secret"].startswith("whsec_")
        shown = (await client.get(path, headers=admin))
        assert "secret" not in shown.json() and created["secret"] not in shown.text
        listed = (await client.get("/v1/webhooks/subscriptions", headers=admin)).json()
        assert [s["id"] for s in listed["items"]] == [created["id"]] and "secret" not in listed["items"][0]
        rotated = await client.post(path + "/secret", headers=admin)
        assert rotated.status_code == 200
        assert rotated.json()["secret"] != created["secret"] and rotated.json()["previous_secret_valid_until"]
        stale = await client.patch(path, json={"description": "x"}, headers={**admin, "If-Match": '"1"'})
        assert stale.status_code == 412
        gone = await client.delete(path, headers=admin)
        assert gone.status_code == 204
        assert (await client.get(path, headers=admin)).status_code == 404


async def test_the_same_idempotency_key_creates_one_subscription(settings) -> None:
    headers = {**token(settings, "admin"), "Idempotency-Key": str(uuid.uuid4())}
    body = {"url": "http://127.0.0.1:9/hook", "event_types": ["OrderPlaced"]}
    async with api(settings) as client:
        first = await client.post("/v1/webhooks/subscriptions", json=body, headers=headers)
        second = await client.post("/v1/webhooks/subscriptions", json=body, headers=headers)
        listed = (await client.get("/v1/webhooks/subscriptions", headers=headers)).json()["items"]
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"] and len(listed) == 1
    for answer in (first, second):
        assert answer.headers["Location"] == f"/v1/webhooks/subscriptions/{first.json()['id']}"
        assert answer.headers["ETag"] == '"1"'
    assert second.headers["Idempotent-Replayed"] == "true"


async def test_a_replay_request_is_accepted_with_where_to_follow_it_once_per_key(settings) -> None:
    admin = token(settings, "admin")
    async with api(settings) as client:
        created = await subscribe(client, settings, url="http://127.0.0.1:9/hook", event_types=["OrderPlaced"])
        path = f"/v1/webhooks/subscriptions/{created['id']}/replays"
        headers = {**admin, "Idempotency-Key": str(uuid.uuid4())}
        first = await client.post(path, json={"since": at(1).isoformat()}, headers=headers)
        second = await client.post(path, json={"since": at(1).isoformat()}, headers=headers)
        listed = (await client.get(path, headers=admin)).json()["items"]
    assert first.status_code == second.status_code == 202, first.text
    assert first.headers["Location"] == second.headers["Location"] == path
    assert first.json() == second.json() and first.json()["status"] == "queued"
    assert [r["id"] for r in listed] == [first.json()["id"]]


BAD_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"url": "ftp://example.com/x", "event_types": ["OrderPlaced"]}, "url"),
    ({"url": "http://10.0.0.7/hook", "event_types": ["OrderPlaced"]}, "url"),
    ({"url": "http://127.0.0.1:8004/v1/customers", "event_types": ["OrderPlaced"]}, "url"),
    ({"url": "http://169.254.169.254/latest/meta-data", "event_types": ["OrderPlaced"]}, "url"),
    ({"url": "https://localhost/hook", "event_types": ["OrderPlaced"]}, "url"),
    ({"url": "https://user:pw@hooks.example.com/x", "event_types": ["OrderPlaced"]}, "url"),
    ({"url": "https://hooks.example.com/x", "event_types": ["NoSuchEvent"]}, "event_types"),
    ({"url": "https://hooks.example.com/x", "event_types": []}, "event_types"),
    ({"url": "https://hooks.example.com/x", "event_types": ["*", "OrderPlaced"]}, "event_types"),
    ({"url": "https://hooks.example.com/x", "event_types": ["OrderPlaced"],
      "filter": [{"field": "shoe_size", "op": "eq", "value": 42}]}, "filter"),
    ({"url": "https://hooks.example.com/x", "event_types": ["OrderPlaced"],
      "filter": [{"field": "total", "op": "in", "value": "900"}]}, "filter"),
    ({"url": "https://hooks.example.com/x", "event_types": ["OrderPlaced"], "personal_data": "yes"}, "personal_data"),
    ({"url": "https://hooks.example.com/x", "event_types": ["OrderPlaced"], "secret": "mine"}, "secret"),
]


async def test_bad_input_and_unsafe_urls_are_422_problems_and_create_nothing(make_database, platform_settings) -> None:
    dsn = await make_database("analytics")
    # Outside local/test HS256 is refused, so staging verifies an issuer's RS256 tokens (its public key).
    issuer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = issuer_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    staging = AnalyticsSettings(**{**platform_settings.model_dump(), "database_url": dsn, "environment": "staging",
                                   "auth_jwt_algorithm": "RS256", "auth_jwt_public_key": public_pem,
                                   "service_token": "a-token-the-issuer-signed"})
    private_pem = issuer_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption())

    def signed(*scopes: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(staging, 'tester', scopes, private_key=private_pem)}"}

    admin = signed("admin")
    async with api(staging) as client:
        for body, field in BAD_BODIES:
            answer = await client.post("/v1/webhooks/subscriptions", json=body, headers=admin)
            assert answer.status_code == 422, (body, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert field in answer.text, (body, answer.text)
        assert (await client.get("/v1/webhooks/subscriptions", headers=admin)).json()["items"] == []
        ok = await client.post("/v1/webhooks/subscriptions", headers=admin,
                               json={"url": "https://93.184.216.34/hook", "event_types": ["OrderPlaced"]})
        assert ok.status_code == 201, ok.text
        path = f"/v1/webhooks/subscriptions/{ok.json()['id']}"
        moved = await client.patch(path, json={"url": "http://192.168.1.20/hook"}, headers=admin)
        assert moved.status_code == 422
        future = await client.post(path + "/replays", json={"since": "2999-01-01T00:00:00Z"}, headers=admin)
        assert future.status_code == 422
        assert (await client.get(path, headers=admin)).json()["url"] == "https://93.184.216.34/hook"
        missing = await client.get(f"/v1/webhooks/subscriptions/{uuid.uuid4()}/deliveries", headers=admin)
        assert missing.status_code == 404
        reader = signed("analytics:read")
        assert (await client.get("/v1/webhooks/subscriptions", headers=reader)).status_code == 403


async def test_an_erasure_reaches_a_delivery_still_waiting_to_be_sent(make_database, platform_topics_created) -> None:
    settings = fast(analytics_settings(platform_topics_created, await make_database("analytics")),
                    analytics_webhook_retry_initial_seconds=1.5, analytics_webhook_retry_max_seconds=1.5)
    keys = StaticKeys()
    cid = new_customer_id()
    async with running_receiver() as receiver, api(settings) as client:
        await subscribe(client, settings, url=receiver.url("/full"), event_types=["CustomerRegistered"],
                        personal_data=True)
        receiver.script("/full", "fail", subject=cid)
        await in_thread(publish, settings, [registered(cid, at(0), name="Erin Erased", email="erin@example.com")], keys)
        async with webhooks_running(settings, keys):
            await eventually(requests_to(receiver, "/full"), until=lambda n: n >= 1, timeout=60,
                             message="the first attempt, refused by the receiver")
            keys.keys.clear()  # the customer service destroyed the data key (erasure) before the retry
            await eventually(delivered_to(receiver, "/full"), until=lambda n: n == 1, timeout=30,
                             message="the retry")
    first, retry = receiver.at("/full")
    assert first.json["data"]["name"] == "Erin Erased"  # sent while the customer's key existed
    assert retry.json["data"]["name"] is None and retry.json["data"]["email"] is None
    assert retry.headers["webhook-id"] == first.headers["webhook-id"]
