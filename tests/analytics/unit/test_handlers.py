"""Analytics' command handlers on in-memory ports: webhook subscriptions and alert acknowledgements.

Each handler runs on ``FakeWork`` with ``InMemoryReadModel`` (no database): the outcome (type,
version, body), the rows left behind, the events appended and the refusals are asserted directly.
The same handlers run on PostgreSQL through the API in tests/analytics/integration.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from services.analytics.application import alerts, webhooks
from services.analytics.application.webhooks import SubscriptionSpec
from shared.contracts.analytics import AccountManagerAlertAcknowledged, AccountManagerAlertRaised
from shared.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from shared.store.outcomes import Accepted, Created, Deleted, Updated
from shared.testing.fakes import FakeWork
from tests.analytics.fakes import InMemoryReadModel

NOW = datetime(2026, 5, 4, 10, 30, tzinfo=UTC)
URL = "https://hooks.example.com/c360"


def work(rows: InMemoryReadModel | None = None) -> FakeWork[InMemoryReadModel]:
    return FakeWork(fake_rows=rows or InMemoryReadModel())


async def subscribed(uow: FakeWork[InMemoryReadModel], **spec: Any) -> dict[str, Any]:
    """A subscription made through the handler itself (version 1), as the API showed it."""
    values = {"url": URL, "event_types": ["OrderPlaced"], **spec}
    created = await webhooks.create_subscription(uow, spec=SubscriptionSpec(**values), now=NOW, allow_private=False)
    body: dict[str, Any] = created.resource
    return body


# ------------------------------------------------------------------------------------ create


async def test_creating_a_subscription_answers_it_once_with_its_secret_at_version_1() -> None:
    uow = work()
    spec = SubscriptionSpec(url=URL, event_types=["OrderPlaced", "CustomerRegistered", "OrderPlaced"],
                            filter=[{"field": "channel", "op": "eq", "value": "web"}], description="orders")
    outcome = await webhooks.create_subscription(uow, spec=spec, now=NOW, allow_private=False)

    assert isinstance(outcome, Created)
    assert outcome.version == 1 and outcome.resource_id == outcome.resource["id"]
    body = outcome.resource
    assert body["event_types"] == ["CustomerRegistered", "OrderPlaced"]  # deduplicated and sorted
    assert (body["url"], body["status"], body["description"]) == (URL, "active", "orders")
    assert body["created_at"] == "2026-05-04T10:30:00.000000Z"
    stored = uow.rows.subscriptions[UUID(outcome.resource_id)]
    assert body["secret"] == stored["secret"] and body["secret"].startswith("whsec_")
    assert "secret" not in webhooks.store.subscription_view(stored)  # shown in this answer only
    assert uow.appended == []  # subscriptions are data, not event streams


@pytest.mark.parametrize(("spec", "field"), [
    (SubscriptionSpec(url=URL, event_types=["NoSuchEvent"]), "event_types"),
    (SubscriptionSpec(url=URL, event_types=[]), "event_types"),
    (SubscriptionSpec(url=URL, event_types=["*", "OrderPlaced"]), "event_types"),
    (SubscriptionSpec(url="http://127.0.0.1:9000/hook", event_types=["OrderPlaced"]), "url"),
    (SubscriptionSpec(url="ftp://hooks.example.com/", event_types=["OrderPlaced"]), "url"),
])
async def test_a_bad_spec_is_invalid_input_and_records_nothing(spec: SubscriptionSpec, field: str) -> None:
    uow = work()
    with pytest.raises(InvalidInput) as refused:
        await webhooks.create_subscription(uow, spec=spec, now=NOW, allow_private=False)
    assert refused.value.extra.get("field") == field
    assert uow.rows.subscriptions == {}


async def test_a_private_url_is_accepted_where_the_settings_allow_it() -> None:
    uow = work()
    outcome = await webhooks.create_subscription(
        uow, spec=SubscriptionSpec(url="http://127.0.0.1:9000/hook", event_types=["*"]), now=NOW, allow_private=True)
    assert outcome.resource["url"] == "http://127.0.0.1:9000/hook"


# ------------------------------------------------------------------------------------ update


async def test_a_change_with_the_current_version_applies_and_answers_the_next_version() -> None:
    uow = work()
    sub = await subscribed(uow)
    later = NOW + timedelta(hours=1)
    outcome = await webhooks.update_subscription(
        uow, subscription_id=UUID(sub["id"]), changes={"description": "renamed", "event_types": ["*"]},
        expected_version=1, now=later, allow_private=False)

    assert isinstance(outcome, Updated) and outcome.version == 2
    assert (outcome.resource["description"], outcome.resource["event_types"]) == ("renamed", ["*"])
    assert outcome.resource["url"] == URL  # what was not named stays
    assert outcome.resource["updated_at"] == "2026-05-04T11:30:00.000000Z"
    assert "secret" not in outcome.resource
    assert uow.rows.wakes == 0


async def test_a_stale_version_is_refused_with_the_current_one_and_changes_nothing() -> None:
    uow = work()
    sub = await subscribed(uow)
    await webhooks.update_subscription(uow, subscription_id=UUID(sub["id"]), changes={"description": "one"},
                                       expected_version=None, now=NOW, allow_private=False)
    with pytest.raises(PreconditionFailed) as refused:
        await webhooks.update_subscription(uow, subscription_id=UUID(sub["id"]), changes={"description": "two"},
                                           expected_version=1, now=NOW, allow_private=False)
    assert refused.value.extra["current_version"] == 2
    assert uow.rows.subscriptions[UUID(sub["id"])]["description"] == "one"


async def test_changing_a_subscription_that_does_not_exist_is_not_found() -> None:
    with pytest.raises(NotFound):
        await webhooks.update_subscription(work(), subscription_id=uuid.uuid4(), changes={}, expected_version=None,
                                           now=NOW, allow_private=False)


async def test_a_change_is_validated_like_a_new_subscription() -> None:
    uow = work()
    sub = await subscribed(uow)
    with pytest.raises(InvalidInput):
        await webhooks.update_subscription(uow, subscription_id=UUID(sub["id"]), changes={"url": "http://localhost/"},
                                           expected_version=1, now=NOW, allow_private=False)
    assert uow.rows.subscriptions[UUID(sub["id"])]["version"] == 1


async def test_an_operator_disables_then_re_enables_and_the_deliveries_resume() -> None:
    uow = work()
    sub = await subscribed(uow)
    sid = UUID(sub["id"])
    disabled = await webhooks.update_subscription(uow, subscription_id=sid, changes={"status": "disabled"},
                                                  expected_version=1, now=NOW, allow_private=False)
    assert disabled.resource["status"] == "disabled"
    assert disabled.resource["disabled_reason"] == "disabled by an operator"
    assert disabled.resource["disabled_at"] == "2026-05-04T10:30:00.000000Z"
    assert uow.rows.wakes == 0

    uow.rows.subscriptions[sid]["consecutive_failures"] = 7
    enabled = await webhooks.update_subscription(uow, subscription_id=sid, changes={"status": "active"},
                                                 expected_version=2, now=NOW, allow_private=False)
    assert enabled.version == 3
    assert (enabled.resource["status"], enabled.resource["consecutive_failures"]) == ("active", 0)
    assert (enabled.resource["disabled_at"], enabled.resource["disabled_reason"]) == (None, None)
    assert uow.rows.wakes == 1  # the worker looks at once for the deliveries that waited


# ------------------------------------------------------------------------------------ rotate secret


async def test_a_rotated_secret_is_shown_once_and_the_old_one_signs_for_the_grace_period() -> None:
    uow = work()
    sub = await subscribed(uow)
    sid = UUID(sub["id"])
    outcome = await webhooks.rotate_secret(uow, subscription_id=sid, expected_version=1, now=NOW,
                                           grace=timedelta(hours=24))

    assert isinstance(outcome, Updated) and outcome.version == 2
    stored = uow.rows.subscriptions[sid]
    assert outcome.resource["secret"] == stored["secret"] != sub["secret"]
    assert stored["previous_secret"] == sub["secret"]
    assert stored["previous_secret_until"] == NOW + timedelta(hours=24)
    assert outcome.resource["previous_secret_valid_until"] == "2026-05-05T10:30:00.000000Z"


async def test_without_a_grace_period_the_old_secret_stops_at_once() -> None:
    uow = work()
    sub = await subscribed(uow)
    await webhooks.rotate_secret(uow, subscription_id=UUID(sub["id"]), expected_version=None, now=NOW,
                                 grace=timedelta(0))
    stored = uow.rows.subscriptions[UUID(sub["id"])]
    assert (stored["previous_secret"], stored["previous_secret_until"]) == (None, None)


async def test_rotating_with_a_stale_version_keeps_the_secret() -> None:
    uow = work()
    sub = await subscribed(uow)
    with pytest.raises(PreconditionFailed):
        await webhooks.rotate_secret(uow, subscription_id=UUID(sub["id"]), expected_version=5, now=NOW,
                                     grace=timedelta(hours=1))
    assert uow.rows.subscriptions[UUID(sub["id"])]["secret"] == sub["secret"]


# ------------------------------------------------------------------------------------ delete


async def test_deleting_removes_the_subscription_with_its_deliveries_and_replays() -> None:
    uow = work()
    sub, other = await subscribed(uow), await subscribed(uow)
    sid = UUID(sub["id"])
    uow.rows.deliveries += [_delivery(sid, "dead"), _delivery(UUID(other["id"]), "dead")]
    await webhooks.request_replay(uow, subscription_id=sid, since=NOW - timedelta(days=1), now=NOW)

    outcome = await webhooks.delete_subscription(uow, subscription_id=sid, expected_version=1)

    assert outcome == Deleted()
    assert list(uow.rows.subscriptions) == [UUID(other["id"])]
    assert [d["subscription_id"] for d in uow.rows.deliveries] == [UUID(other["id"])]
    assert uow.rows.replays == {}


async def test_deleting_with_a_stale_version_or_an_unknown_id_is_refused() -> None:
    uow = work()
    sub = await subscribed(uow)
    with pytest.raises(PreconditionFailed):
        await webhooks.delete_subscription(uow, subscription_id=UUID(sub["id"]), expected_version=2)
    assert UUID(sub["id"]) in uow.rows.subscriptions
    with pytest.raises(NotFound):
        await webhooks.delete_subscription(uow, subscription_id=uuid.uuid4(), expected_version=None)


# ------------------------------------------------------------------------------------ replay


async def test_a_replay_is_accepted_queued_and_wakes_the_worker() -> None:
    uow = work()
    sub = await subscribed(uow)
    since = NOW - timedelta(days=3)
    outcome = await webhooks.request_replay(uow, subscription_id=UUID(sub["id"]), since=since, now=NOW)

    assert isinstance(outcome, Accepted)
    assert outcome.resource["subscription_id"] == sub["id"]
    assert (outcome.resource["status"], outcome.resource["since"]) == ("queued", "2026-05-01T10:30:00.000000Z")
    assert (outcome.resource["events_read"], outcome.resource["finished_at"]) == (0, None)
    assert list(uow.rows.replays) == [UUID(outcome.resource["id"])]
    assert uow.rows.wakes == 1


async def test_a_replay_from_the_future_is_invalid_input() -> None:
    uow = work()
    sub = await subscribed(uow)
    with pytest.raises(InvalidInput) as refused:
        await webhooks.request_replay(uow, subscription_id=UUID(sub["id"]), since=NOW + timedelta(seconds=1),
                                      now=NOW)
    assert refused.value.extra.get("field") == "since"
    assert uow.rows.replays == {}


async def test_a_fourth_waiting_replay_is_a_conflict_until_one_finishes() -> None:
    uow = work()
    sub = await subscribed(uow)
    sid = UUID(sub["id"])
    for _ in range(3):
        await webhooks.request_replay(uow, subscription_id=sid, since=NOW, now=NOW)
    with pytest.raises(Conflict):
        await webhooks.request_replay(uow, subscription_id=sid, since=NOW, now=NOW)

    next(iter(uow.rows.replays.values()))["status"] = "done"
    again = await webhooks.request_replay(uow, subscription_id=sid, since=NOW, now=NOW)
    assert again.resource["status"] == "queued" and len(uow.rows.replays) == 4


async def test_replaying_a_subscription_that_does_not_exist_is_not_found() -> None:
    with pytest.raises(NotFound):
        await webhooks.request_replay(work(), subscription_id=uuid.uuid4(), since=NOW, now=NOW)


# ------------------------------------------------------------------------------------ dead letters


async def test_dead_letters_go_back_in_line_with_their_attempts_reset() -> None:
    uow = work()
    sub, other = await subscribed(uow), await subscribed(uow)
    sid = UUID(sub["id"])
    uow.rows.deliveries += [_delivery(sid, "dead"), _delivery(sid, "dead"), _delivery(sid, "delivered"),
                            _delivery(UUID(other["id"]), "dead")]

    outcome = await webhooks.redeliver_dead_letters(uow, subscription_id=sid, now=NOW)

    assert outcome == Updated({"requeued": 2})  # a count, not a versioned resource: no ETag
    assert [d["status"] for d in uow.rows.deliveries] == ["pending", "pending", "delivered", "dead"]
    assert all(d["attempts"] == 0 and d["next_attempt_at"] == NOW for d in uow.rows.deliveries[:2])
    assert uow.rows.wakes == 1


async def test_redelivering_for_an_unknown_subscription_is_not_found() -> None:
    with pytest.raises(NotFound):
        await webhooks.redeliver_dead_letters(work(), subscription_id=uuid.uuid4(), now=NOW)


# ------------------------------------------------------------------------------------ alerts


async def test_acknowledging_an_alert_publishes_it_once_after_the_raise() -> None:
    uow, alert = _with_alert()
    outcome = await alerts.acknowledge(uow, alert["id"], by="am-7", now=NOW)

    assert isinstance(outcome, Updated) and outcome.version is None
    assert outcome.resource["state"] == "acknowledged"
    assert (outcome.resource["acknowledged_by"], outcome.resource["acknowledged_at"]) == (
        "am-7", "2026-05-04T10:30:00.000000Z")
    stream = alerts.alert_stream(alert["id"])
    [recorded] = uow.appended
    assert (recorded.stream_id, recorded.version, recorded.subject) == (stream, 2, str(alert["customer_id"]))
    assert recorded.event == AccountManagerAlertAcknowledged(
        alert_id=alert["id"], customer_id=alert["customer_id"], account_manager_id="am-1", kind="complaint",
        acknowledged_by="am-7", acknowledged_at=NOW)


async def test_acknowledging_again_answers_the_alert_as_it_is_and_publishes_nothing() -> None:
    uow, alert = _with_alert()
    first = await alerts.acknowledge(uow, alert["id"], by="am-7", now=NOW)
    again = await alerts.acknowledge(uow, alert["id"], by="someone-else", now=NOW + timedelta(hours=2))

    assert again == first
    assert len(uow.appended) == 1


async def test_acknowledging_an_unknown_alert_is_not_found() -> None:
    uow, _ = _with_alert()
    with pytest.raises(NotFound):
        await alerts.acknowledge(uow, uuid.uuid4(), by="am-7", now=NOW)
    assert uow.appended == []


def _delivery(subscription_id: UUID, status: str) -> dict[str, Any]:
    yesterday = NOW - timedelta(days=1)
    return {"subscription_id": subscription_id, "status": status, "attempts": 5, "next_attempt_at": yesterday,
            "dead_at": yesterday if status == "dead" else None}


def _with_alert() -> tuple[FakeWork[InMemoryReadModel], dict[str, Any]]:
    """An open complaint alert, raised (its stream at version 1) as the alerts consumer leaves it."""
    raised_at = NOW - timedelta(hours=3)
    alert = {"id": uuid.uuid4(), "customer_id": uuid.uuid4(), "account_manager_id": "am-1", "kind": "complaint",
             "rule": "alerts.complaint", "reason": "A complaint was filed.", "provenance": [uuid.uuid4()],
             "decided_at": raised_at, "raised_at": raised_at, "occasion": None, "due_on": None,
             "acknowledged_at": None, "acknowledged_by": None}
    uow = work(InMemoryReadModel(alerts={alert["id"]: alert}))
    uow.seed(alerts.alert_stream(alert["id"]), alerts.ALERT_STREAM_TYPE, [AccountManagerAlertRaised(
        customer_id=alert["customer_id"], rule=alert["rule"], reason=alert["reason"],
        provenance=alert["provenance"], decided_at=raised_at, alert_id=alert["id"], account_manager_id="am-1",
        kind="complaint", raised_at=raised_at)])
    return uow, alert
