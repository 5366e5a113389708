"""Pure parts of the platform: ids, the CloudEvents codec, the catalog and personal-data crypto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from shared.events.catalog import InvalidEventData, UnknownEventType, parse_ce_type
from shared.events.envelope import EnvelopeError, format_time, from_kafka, new_envelope, parse_time, to_kafka
from shared.ids import uuid7, uuid7_time_ms
from shared.shredding import decrypt_fields, encrypt_fields, is_encrypted
from tests.shared.sample_events import TEST_CATALOG, PersonRenamed, ThingHappened


def test_uuid7_ids_sort_by_creation_and_carry_their_time() -> None:
    ids = [uuid7() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5000
    assert all(i.version == 7 for i in ids[:10])
    now_ms = datetime.now(UTC).timestamp() * 1000
    assert abs(uuid7_time_ms(ids[-1]) - now_ms) < 5000


def test_envelope_round_trips_through_kafka_binary_mode() -> None:
    env = new_envelope(ThingHappened(customer_id="c-1", amount=Decimal("12.30")), service="testing", subject="c-1",
                       correlation_id="corr", causation_id="cause", stream_id="s", stream_version=3,
                       traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    key, value, headers = to_kafka(env)
    assert key == b"c-1"
    names = dict(headers)
    assert names["ce_specversion"] == b"1.0"
    assert names["ce_type"] == b"customer360.testing.ThingHappened.v1"
    assert names["ce_source"] == b"/customer360/testing"
    back = from_kafka(key, value, headers)
    assert back == env
    assert back.data_dict()["amount"] == "12.30"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h: [x for x in h if x[0] != "ce_type"], "missing_headers"),
        (lambda h: [(k, b"0.3" if k == "ce_specversion" else v) for k, v in h], "unsupported_specversion"),
        (lambda h: [(k, b"nope" if k == "ce_id" else v) for k, v in h], "invalid_id"),
        (lambda h: [(k, b"other.thing" if k == "ce_type" else v) for k, v in h], "unknown_type"),
        (lambda h: [(k, b"yesterday" if k == "ce_time" else v) for k, v in h], "invalid_time"),
        (lambda h: [(k, b"\xff\xfe" if k == "ce_source" else v) for k, v in h], "invalid_header"),
    ],
)
def test_malformed_envelopes_are_rejected_with_a_reason(mutate, reason) -> None:  # type: ignore[no-untyped-def]
    key, value, headers = to_kafka(new_envelope(ThingHappened(customer_id="c"), service="testing", subject="c"))
    with pytest.raises(EnvelopeError) as error:
        from_kafka(key, value, mutate(headers))
    assert error.value.reason == reason


def test_values_that_are_not_json_objects_are_rejected() -> None:
    key, _, headers = to_kafka(new_envelope(ThingHappened(customer_id="c"), service="testing", subject="c"))
    for bad in (b"not json", b"[1,2]", None):
        with pytest.raises(EnvelopeError) as error:
            from_kafka(key, bad, headers)
        assert error.value.reason == "invalid_json"


def test_catalog_upcasts_old_versions_and_refuses_unknown_ones() -> None:
    event = TEST_CATALOG.decode("PersonRenamed", 1, {"customer_id": "p", "name": "Ada Lovelace"})
    assert isinstance(event, PersonRenamed)
    assert (event.given_name, event.family_name) == ("Ada", "Lovelace")
    with pytest.raises(UnknownEventType):
        TEST_CATALOG.decode("PersonRenamed", 3, {})
    with pytest.raises(UnknownEventType):
        TEST_CATALOG.decode("Nothing", 1, {})
    with pytest.raises(InvalidEventData):
        TEST_CATALOG.decode("ThingHappened", 1, {"customer_id": None})


def test_ce_type_parsing() -> None:
    parsed = parse_ce_type("customer360.customer.OrderPlaced.v2")
    assert (parsed.domain, parsed.event_type, parsed.version) == ("customer", "OrderPlaced", 2)
    for bad in ("OrderPlaced", "customer360.customer.OrderPlaced.2", "customer360.customer.OrderPlaced.v0"):
        with pytest.raises(ValueError):
            parse_ce_type(bad)


def test_personal_fields_are_marked_and_encryption_is_bound_to_subject_and_field() -> None:
    assert PersonRenamed.personal_fields() == {"given_name", "family_name"}
    key = bytes(range(32))
    sealed = encrypt_fields({"given_name": "Ada", "family_name": None, "customer_id": "p"},
                            PersonRenamed.personal_fields(), key, "p")
    assert is_encrypted(sealed["given_name"]) and sealed["family_name"] is None
    assert decrypt_fields(sealed, ["given_name"], key, "p")["given_name"] == "Ada"
    assert decrypt_fields(sealed, ["given_name"], key, "someone-else")["given_name"] is None
    assert decrypt_fields(sealed, ["given_name"], None, "p")["given_name"] is None


def test_times_are_written_with_four_digit_years_and_naive_ones_are_utc() -> None:
    """Found by fuzzing: year 204 came out as '204', and asyncpg's naive 0001-01-01 crashed a replay's answer."""
    assert format_time(datetime(1, 1, 1)) == "0001-01-01T00:00:00.000000Z"
    early = datetime(204, 4, 25, 1, 2, 3, tzinfo=timezone(timedelta(hours=1)))
    assert format_time(early) == "0204-04-25T00:02:03.000000Z"
    now = datetime(2026, 12, 6, 2, 3, 4, 5, tzinfo=UTC)
    assert format_time(now) == "2026-12-06T02:03:04.000005Z" and parse_time(format_time(now)) == now
