"""The outcome vocabulary of command handlers, its HTTP answer, and the in-memory ports."""

from __future__ import annotations

import asyncio

import pytest

from shared.contracts.customer import CustomerRegistered
from shared.errors import ConcurrencyConflict, PreconditionFailed
from shared.store.outcomes import Accepted, Created, Deleted, Updated
from shared.store.ports import Work
from shared.store.versions import ensure_version_matches
from shared.testing.fakes import FakeWork, InMemoryEventLog
from shared.web.problems import problem_for_exception
from shared.web.responses import answer


def test_created_is_201_with_etag_and_location_from_the_route_template() -> None:
    result = answer(Created({"id": "c-1"}, "c-1", version=1), location="/v1/customers/{id}")
    assert (result.status, result.body) == (201, {"id": "c-1"})
    assert result.headers == {"ETag": '"1"', "Location": "/v1/customers/c-1"}


def test_updated_accepted_deleted_map_to_200_202_204() -> None:
    assert (answer(Updated({"a": 1}, version=7)).status, answer(Updated({"a": 1}, version=7)).headers) == (
        200, {"ETag": '"7"'})
    assert answer(Updated({"a": 1})).headers == {}  # no version, no ETag
    assert (answer(Accepted({"job": "j"})).status, answer(Accepted({"job": "j"})).headers) == (202, {})
    assert (answer(Deleted()).status, answer(Deleted()).body) == (204, None)
    followed = answer(Accepted({"job": "j"}, "s-1"), location="/v1/subscriptions/{id}/replays")
    assert followed.headers == {"Location": "/v1/subscriptions/s-1/replays"}


def test_a_stale_version_is_a_412_that_shows_the_current_etag() -> None:
    ensure_version_matches(None, 3)
    ensure_version_matches(3, 3)
    with pytest.raises(PreconditionFailed) as raised:
        ensure_version_matches(2, 3)
    response = problem_for_exception(raised.value, {"type": "http", "path": "/v1/x", "headers": []})
    assert response.status_code == 412
    assert b'"current_etag":"\\"3\\""' in response.body
    assert b"current_version" not in response.body


def _registered(name: str) -> CustomerRegistered:
    return CustomerRegistered.model_validate({
        "customer_id": "0190f5d0-0000-7000-8000-000000000001", "name": name, "email": f"{name}@example.com",
        "registered_at": "2026-01-01T00:00:00Z",
    })


def test_the_in_memory_log_keeps_the_event_stores_concurrency_rule() -> None:
    log = InMemoryEventLog()

    async def scenario() -> None:
        await log.append(stream_id="s", stream_type="customer", expected_version=0,
                         events=[_registered("ada")], subject="s")
        with pytest.raises(ConcurrencyConflict):
            await log.append(stream_id="s", stream_type="customer", expected_version=0,
                             events=[_registered("bob")], subject="s")
        loaded = await log.load("s")
        assert [r.version for r in loaded] == [1]
        sealed = await log.load_sealed(["s", "absent"])
        assert list(sealed) == ["s"] and [e.name for e in sealed["s"]] == ["ada"]
        assert [e.name for e in log.events("s")] == ["ada"]

    asyncio.run(scenario())


def test_fake_work_is_a_work_and_refuses_rows_it_was_not_given() -> None:
    work: Work[dict[str, int]] = FakeWork(fake_rows={"n": 1})
    assert work.rows == {"n": 1}
    with pytest.raises(RuntimeError):
        _ = FakeWork[dict[str, int]]().rows
