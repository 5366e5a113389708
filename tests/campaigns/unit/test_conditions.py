"""Conditions: validated at save time with positions, evaluated safely at run time."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.campaigns.domain.conditions import ConditionError, evaluate_condition, validate_condition

ORDER_FIELDS = frozenset({"total", "offer_code", "channel"})


def test_a_valid_condition_over_event_and_customer_is_accepted() -> None:
    validate_condition("event.total > 500 and customer.orders_count == 1", event_fields=ORDER_FIELDS)


def test_an_unknown_event_field_is_refused_with_its_position() -> None:
    with pytest.raises(ConditionError) as caught:
        validate_condition("event.totl > 500", event_fields=ORDER_FIELDS)
    assert (caught.value.line, caught.value.column) == (1, 7)
    assert "event.totl" in caught.value.message


def test_an_unknown_customer_field_is_refused() -> None:
    with pytest.raises(ConditionError, match=r"customer\.password"):
        validate_condition("customer.password == 'x'", event_fields=ORDER_FIELDS)


def test_a_syntax_error_reports_line_and_column() -> None:
    with pytest.raises(ConditionError) as caught:
        validate_condition("event.total >", event_fields=ORDER_FIELDS)
    assert caught.value.line == 1
    assert caught.value.column >= 1


@pytest.mark.parametrize(
    "expression",
    ["__import__('os').system('x')", "event.total.__class__", "open('/etc/passwd')", "[x for x in event]",
     "lambda: 1", "os.environ"],
)
def test_calls_dunders_and_other_names_are_refused(expression: str) -> None:
    with pytest.raises(ConditionError):
        validate_condition(expression, event_fields=ORDER_FIELDS)


def test_evaluation_sees_event_and_customer_values() -> None:
    holds = evaluate_condition(
        "event.total > 500 and customer.orders_count == 1",
        event={"total": Decimal("600.00")},
        customer={"orders_count": 1},
        event_fields=ORDER_FIELDS,
    )
    assert holds is True


def test_membership_in_segments_works() -> None:
    assert evaluate_condition("'loyal' in customer.segments", event={}, customer={"segments": ["loyal"]},
                              event_fields=ORDER_FIELDS)


def test_a_runtime_error_counts_as_false_not_a_crash() -> None:
    assert evaluate_condition("event.total > 5", event={"total": None}, customer={},
                              event_fields=ORDER_FIELDS) is False


def test_no_condition_always_holds() -> None:
    assert evaluate_condition(None, event={}, customer={}, event_fields=ORDER_FIELDS) is True


def test_list_and_tuple_literals_that_pass_validation_also_evaluate() -> None:
    for condition in ("event.channel in ['web', 'store']", "event.channel in ('web', 'store')"):
        validate_condition(condition, event_fields=ORDER_FIELDS)
        assert evaluate_condition(condition, event={"channel": "web"}, customer={}, event_fields=ORDER_FIELDS)
        assert not evaluate_condition(condition, event={"channel": "app"}, customer={}, event_fields=ORDER_FIELDS)


def test_the_customers_recommended_skus_are_a_known_field() -> None:
    condition = "customer.recommended_skus != [] and 'SKU-B' in customer.recommended_skus"
    validate_condition(condition, event_fields=ORDER_FIELDS)
    assert evaluate_condition(condition, event={}, customer={"recommended_skus": ["SKU-B"]}, event_fields=ORDER_FIELDS)
    assert not evaluate_condition(condition, event={}, customer={"recommended_skus": []}, event_fields=ORDER_FIELDS)
