"""Webhooks' pure rules: selection, withheld personal data, Standard Webhooks signatures, backoff, SSRF."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from services.analytics.domain import webhooks as wh
from shared.errors import InvalidInput

SECRET = wh.encode_secret(bytes(range(32)))


def test_a_signature_is_what_the_standard_webhooks_library_computes() -> None:
    body = b'{"type":"OrderPlaced","data":{"total":"12.00"}}'
    moment = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    ours = wh.signature(SECRET, "msg_1", int(moment.timestamp()), body)
    assert ours == Webhook(SECRET).sign("msg_1", moment, body)
    assert ours.startswith("v1,")


def test_during_a_rotation_both_secrets_sign_and_either_verifies() -> None:
    new = wh.encode_secret(bytes(range(1, 33)))
    headers = wh.signed_headers([new, SECRET], "msg_2", int(datetime.now(UTC).timestamp()), b"{}")
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (new, SECRET):
        assert Webhook(secret).verify(b"{}", headers) == {}


def test_a_secret_needs_enough_randomness() -> None:
    with pytest.raises(ValueError):
        wh.encode_secret(b"short")
    assert wh.secret_key(SECRET) == bytes(range(32))


def test_conditions_compare_money_as_amounts_and_instants_as_text() -> None:
    data = {"total": "1890.00", "channel": "web", "placed_at": "2026-05-01T10:00:00.000000Z",
            "tags": ["vip", "b2b"], "address": {"city": "Izmir"}, "note": None}
    holds = [
        ("total", "gte", "500"), ("total", "eq", 1890), ("total", "lt", 2000.5), ("channel", "in", ["web", "app"]),
        ("channel", "ne", "store"), ("placed_at", "gte", "2026-05-01T00:00:00Z"), ("tags", "contains", "vip"),
        ("address.city", "eq", "Izmir"), ("note", "exists", False), ("channel", "exists", True),
        ("missing", "not_in", ["x"]),
    ]
    fails = [("total", "gt", "1890.00"), ("channel", "eq", "store"), ("tags", "contains", "retail"),
             ("address.city", "eq", "Ankara"), ("missing", "eq", "x"), ("note", "exists", True),
             ("channel", "gt", 5)]
    for field, op, value in holds:
        assert wh.Condition(field, op, value).holds(data), (field, op, value)
    for field, op, value in fails:
        assert not wh.Condition(field, op, value).holds(data), (field, op, value)


def test_a_condition_on_a_field_the_type_lacks_does_not_apply_to_that_type() -> None:
    selection = wh.Selection(frozenset({"OrderPlaced", "ComplaintFiled"}),
                             (wh.Condition("total", "gte", "500"),))
    assert selection.wants("ComplaintFiled", {"ticket_id": "t"}, defined={"ticket_id", "customer_id"})
    assert not selection.wants("OrderPlaced", {"total": "100.00"}, defined={"total"})
    assert selection.wants("OrderPlaced", {"total": "900.00"}, defined={"total"})
    assert not selection.wants("TicketOpened", {}, defined=set())


def test_all_types_selects_every_event() -> None:
    assert wh.Selection(frozenset({wh.ALL_TYPES})).wants("AnythingHappened", {})


@pytest.mark.parametrize(("raw", "message"), [
    ([{"field": "total", "op": "like", "value": 1}], "op must be one of"),
    ([{"field": "", "op": "eq", "value": 1}], "names a field"),
    ([{"field": "nope", "op": "eq", "value": 1}], "has a field 'nope'"),
    ([{"field": "total", "op": "in", "value": "x"}], "takes a list"),
    ([{"field": "total", "op": "exists", "value": "yes"}], "exists takes"),
    ([{"field": "total", "op": "gte", "value": {"a": 1}}], "compares with"),
    ([{"field": "total", "op": "eq", "value": [1]}], "plain value"),
    ([{"field": "total", "op": "eq"}] * 21, "at most 20"),
])
def test_a_bad_filter_is_refused_with_the_reason(raw: list[dict[str, object]], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        wh.parse_filter(raw, known_fields={"total", "channel"})


def test_personal_fields_are_withheld_as_null_and_others_kept() -> None:
    data = {"name": "Ada", "email": "ada@example.com", "total": "10.00"}
    assert wh.withhold_personal(data, {"name", "email", "phone"}) == {"name": None, "email": None, "total": "10.00"}


def test_backoff_grows_exponentially_up_to_the_ceiling_then_dead_letters() -> None:
    policy = wh.RetryPolicy(initial=30, factor=4, ceiling=6 * 3600, max_attempts=8, jitter=0)
    assert policy.schedule() == [30, 120, 480, 1920, 7680, 21600, 21600]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert policy.next_attempt(now, 1) == now + timedelta(seconds=30)
    assert policy.next_attempt(now, 3) == now + timedelta(seconds=480)
    assert policy.next_attempt(now, 8) is None


def test_jitter_stays_within_its_fraction() -> None:
    policy = wh.RetryPolicy(initial=100, factor=2, jitter=0.2)
    assert policy.delay_after(1, 0.0) == pytest.approx(80)
    assert policy.delay_after(1, 0.999999) == pytest.approx(120, rel=1e-4)
    assert policy.delay_after(2, 0.5) == pytest.approx(200)


def test_only_2xx_is_a_delivery_and_failures_in_a_row_disable() -> None:
    assert wh.succeeded(200) and wh.succeeded(204)
    assert not any(wh.succeeded(code) for code in (None, 301, 404, 410, 500))
    assert not wh.should_disable(4, 5) and wh.should_disable(5, 5)


@pytest.mark.parametrize("url", [
    "ftp://example.com/x", "file:///etc/passwd", "gopher://example.com", "javascript:alert(1)",
    "http://user:pw@example.com/x", "http:///nohost", "http://example.com/a b", "https://exa mple.com",
    "http://127.0.0.1/x", "http://localhost:8080/x", "http://10.1.2.3/", "http://192.168.0.10/",
    "http://169.254.169.254/latest/meta-data", "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/",
    "http://172.16.5.4/", "http://100.64.0.1/", "http://api.localhost/", "http://224.0.0.1/",
    "http://example.com:0/", "http://example.com/#frag",
])
def test_unsafe_urls_are_refused_outside_local_and_test(url: str) -> None:
    with pytest.raises(InvalidInput):
        wh.check_url(url, allow_private=False)


def test_public_urls_pass_and_loopback_passes_only_where_private_is_allowed() -> None:
    assert wh.check_url("https://hooks.example.com/c360?x=1", allow_private=False).host == "hooks.example.com"
    assert wh.check_url("http://93.184.216.34:8443/in", allow_private=False).address is not None
    assert wh.check_url("http://127.0.0.1:9000/in", allow_private=True).host == "127.0.0.1"
    with pytest.raises(InvalidInput):
        wh.check_url("ftp://127.0.0.1/", allow_private=True)  # the scheme rule holds everywhere


def test_a_name_resolving_to_any_private_address_is_refused() -> None:
    assert wh.resolved_addresses_allowed(["93.184.216.34"], allow_private=False)
    assert not wh.resolved_addresses_allowed(["93.184.216.34", "10.0.0.5"], allow_private=False)
    assert not wh.resolved_addresses_allowed([], allow_private=False)
    assert wh.resolved_addresses_allowed(["127.0.0.1"], allow_private=True)
    assert not wh.address_is_public(ipaddress.ip_address("fd00::1"))
