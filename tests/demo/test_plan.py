"""The demo's population plan: deterministic and realistic (pure, no infrastructure)."""

from __future__ import annotations

from collections import Counter
from datetime import date

from demo.__main__ import parse_args
from demo.plan import CHANNEL_WEIGHTS, RELATIONSHIP_WEIGHTS, build_plan, nps_category

PLAN = build_plan(seed=42, customers=300, months=6)


def test_the_same_seed_gives_the_same_plan() -> None:
    assert build_plan(seed=42, customers=300, months=6) == PLAN


def test_another_seed_gives_another_population_with_other_emails_and_phones() -> None:
    other = build_plan(seed=43, customers=300, months=6)
    assert other != PLAN
    assert not {c.email for c in other.customers} & {c.email for c in PLAN.customers}
    assert not {c.phone for c in other.customers} & {c.phone for c in PLAN.customers}


def test_customers_have_unique_keys_emails_and_phones() -> None:
    for attribute in ("key", "email", "phone"):
        values = [getattr(c, attribute) for c in PLAN.customers]
        assert len(set(values)) == len(values), attribute


def test_phones_are_valid_e164_numbers_and_emails_are_ascii() -> None:
    import phonenumbers

    for c in PLAN.customers:
        assert phonenumbers.is_valid_number(phonenumbers.parse(c.phone)), c.phone
        assert c.email.isascii() and "@" in c.email


def test_every_acquisition_channel_and_relationship_type_is_represented() -> None:
    assert {c.acquisition_channel for c in PLAN.customers} == set(CHANNEL_WEIGHTS)
    assert {c.relationship_type for c in PLAN.customers} == set(RELATIONSHIP_WEIGHTS)


def test_key_accounts_get_an_account_manager() -> None:
    key_accounts = ("dedicated_assistance", "personal_assistance")
    for c in PLAN.customers:
        assert (c.account_manager is not None) == (c.relationship_type in key_accounts)


def test_orders_span_the_months_with_returns_cancellations_and_pending_ones() -> None:
    orders = [o for c in PLAN.customers for o in c.orders]
    fates = Counter(o.fate for o in orders)
    assert len(orders) > 600
    assert {o.month for o in orders} == set(range(6))
    assert 0.03 < fates["returned"] / len(orders) < 0.2
    assert fates["cancelled"] > 0 and fates["placed"] > 0 and fates["shipped"] > 0
    assert all(o.fate in ("delivered", "returned", "cancelled") for o in orders if o.month < 5)


def test_some_payments_are_late_or_overdue_and_late_payers_are_late_more_often() -> None:
    def late_share(personas: set[str]) -> float:
        orders = [o for c in PLAN.customers if c.persona in personas for o in c.orders]
        return sum(o.payment in ("late", "overdue") for o in orders) / len(orders)

    assert late_share({"late_payer"}) > 3 * late_share({"regular", "loyal"})
    assert 0.03 < late_share({"regular", "loyal", "vip", "occasional", "late_payer"}) < 0.3


def test_complaints_come_with_transfers_and_some_stay_open() -> None:
    tickets = [t for c in PLAN.customers for t in c.tickets]
    assert sum(t.kind == "complaint" for t in tickets) >= 20
    assert any(t.transfers for t in tickets)
    assert any(not t.resolved for t in tickets)
    assert all(t.answered for t in tickets if t.resolved)


def test_serial_complainers_complain_more_than_loyal_customers() -> None:
    def per_customer(persona: str) -> float:
        people = [c for c in PLAN.customers if c.persona == persona]
        return sum(len(c.tickets) for c in people) / len(people)

    assert per_customer("complainer") > 3 * per_customer("loyal")


def test_nps_answers_spread_over_promoters_passives_and_detractors() -> None:
    split = PLAN.nps_categories()
    total = sum(split.values())
    assert total >= 100
    for category in ("promoter", "passive", "detractor"):
        assert split[category] / total > 0.15, category


def test_nps_categories_follow_seed_001() -> None:
    assert [nps_category(s) for s in (0, 6, 7, 8, 9, 10)] == [
        "detractor", "detractor", "passive", "passive", "promoter", "promoter"
    ]


def test_churners_stop_buying_after_two_months() -> None:
    for c in PLAN.customers:
        if c.persona == "churner":
            assert all(o.month < c.joined_month + 2 for o in c.orders)


def test_the_months_end_at_the_reference_date() -> None:
    plan = build_plan(seed=1, customers=5, months=3, today=date(2026, 6, 15))
    assert plan.start == date(2026, 4, 1)


def test_operations_count_the_calls_for_the_progress_bar() -> None:
    assert PLAN.operations() > len(PLAN.customers) * 3


def test_the_command_line_has_the_documented_options() -> None:
    args = parse_args(["--customers", "50", "--months", "3", "--seed", "9", "--live"])
    assert (args.customers, args.months, args.seed, args.live) == (50, 3, 9, True)
    assert parse_args([]).customers == 300
