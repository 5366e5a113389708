"""The demo's population plan: deterministic and realistic (pure, no infrastructure)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

from demo.__main__ import parse_args
from demo.plan import CHANNEL_WEIGHTS, RELATIONSHIP_WEIGHTS, CustomerPlan, build_plan, nps_category

NOW = datetime(2026, 6, 15, 12, 30, tzinfo=UTC)
PLAN = build_plan(seed=42, customers=300, months=6, now=NOW)


def test_the_same_seed_gives_the_same_plan() -> None:
    assert build_plan(seed=42, customers=300, months=6, now=NOW) == PLAN


def test_another_seed_gives_another_population_with_other_emails_and_phones() -> None:
    other = build_plan(seed=43, customers=300, months=6, now=NOW)
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


def test_key_accounts_have_notes_whose_newest_follow_up_is_still_ahead() -> None:
    managed = [c for c in PLAN.customers if c.account_manager is not None]
    assert managed and all(c.notes for c in managed)
    assert not any(c.notes for c in PLAN.customers if c.account_manager is None)
    for c in managed:
        newest = c.notes[-1]
        assert newest.follow_up_due is not None and newest.follow_up_due > NOW and newest.follow_up_done_at is None
        for note in c.notes:
            assert c.registered_at < note.written_at < NOW and note.text
            if note.follow_up_done_at is not None:
                assert note.follow_up_due is not None and note.written_at < note.follow_up_due < note.follow_up_done_at
    assert any(n.follow_up_done_at for c in managed for n in c.notes), "some follow-ups were done"


def test_orders_span_the_months_with_returns_cancellations_and_pending_ones() -> None:
    orders = [o for c in PLAN.customers for o in c.orders]
    fates = Counter(o.fate for o in orders)
    assert len(orders) > 600
    assert {o.month for o in orders} == set(range(6))
    assert 0.03 < fates["returned"] / len(orders) < 0.2
    assert fates["cancelled"] > 0 and fates["placed"] > 0 and fates["shipped"] > 0
    settled = [o for o in orders if o.placed_at < NOW - timedelta(days=8)]
    assert all(o.fate in ("delivered", "returned", "cancelled") for o in settled)
    assert {o.fate for o in orders if o.placed_at > NOW - timedelta(days=1)} <= {"placed", "shipped", "cancelled"}


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


def test_churners_stop_buying_months_before_today_and_ignore_the_win_back_survey() -> None:
    churners = [c for c in PLAN.customers if c.persona == "churner"]
    assert churners
    for c in churners:
        assert all(o.month < c.joined_month + 2 for o in c.orders)
        assert max(o.placed_at for o in c.orders) < NOW - timedelta(days=60)
    winbacks = [s for c in churners for s in c.surveys if s.key.endswith("-winback")]
    assert winbacks and all(s.answered_at is None for s in winbacks)
    for c in churners:
        for s in (s for s in c.surveys if s.key.endswith("-winback")):
            quiet = [step.at for step in c.steps() if step.ref != s.key]
            assert s.sent_at - max(quiet) >= timedelta(days=70), "sent long after the customer went quiet"


def test_the_months_end_today_by_default() -> None:
    before = datetime.now(UTC).date()
    plan = build_plan(seed=1, customers=5, months=3)
    today = plan.now.date()
    assert today in (before, datetime.now(UTC).date()), "today, even across midnight"
    assert (plan.start.year * 12 + plan.start.month) == today.year * 12 + today.month - 2 and plan.start.day == 1
    assert all(step.at <= plan.now for c in plan.customers for step in c.steps())


def test_the_months_end_at_the_given_present() -> None:
    plan = build_plan(seed=1, customers=5, months=3, now=datetime(2026, 6, 15, tzinfo=UTC))
    assert plan.start == date(2026, 4, 1)


def test_nothing_happens_after_now_and_the_history_reaches_it() -> None:
    moments = [step.at for c in PLAN.customers for step in c.steps()]
    assert max(moments) < NOW
    assert max(moments) > NOW - timedelta(days=1)
    assert min(moments) >= datetime(2026, 1, 1, tzinfo=UTC)


def test_history_is_spread_over_the_requested_months() -> None:
    months = Counter(step.at.strftime("%Y-%m") for c in PLAN.customers for step in c.steps())
    assert sorted(months) == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]
    assert min(months.values()) > 300


def _first(c: CustomerPlan, action: str, ref: str) -> datetime:
    return next(step.at for step in c.steps() if step.action == action and step.ref == ref)


def test_each_customer_story_is_chronological_and_causal() -> None:
    for c in PLAN.customers:
        steps = c.steps()
        assert steps == sorted(steps, key=lambda s: (s.at, s.rank))
        assert steps[0].action == "register" and steps[0].at == c.registered_at
        for o in c.orders:
            chain = [o.placed_at, o.shipped_at, o.delivered_at, o.invoiced_at]
            present = [m for m in chain if m is not None]
            assert present == sorted(present) and present[0] > c.registered_at
            if o.paid_at is not None:
                assert o.invoiced_at is not None and o.paid_at > o.invoiced_at
            if o.returned_at is not None:
                assert o.delivered_at is not None
                assert timedelta(0) < o.returned_at - o.delivered_at < timedelta(days=30), "inside the window"
            if o.cancelled_at is not None:
                assert o.shipped_at is None and o.cancelled_at > o.placed_at
        for t in c.tickets:
            chain = [t.opened_at, *t.transferred_at, t.escalated_at, t.answered_at, t.resolved_at]
            present = [m for m in chain if m is not None]
            assert present == sorted(present) and t.opened_at > c.registered_at
        for s in c.surveys:
            assert s.answered_at is None or s.answered_at > s.sent_at
            if s.ticket_key:
                assert s.sent_at > _first(c, "resolve_ticket", s.ticket_key)


def test_late_payers_pay_after_the_due_date_and_on_time_payers_before_it() -> None:
    paid = [o for c in PLAN.customers for o in c.orders if o.paid_at is not None and o.due_date is not None]
    assert paid
    for o in paid:
        assert o.paid_at is not None and o.due_date is not None
        if o.payment == "late":
            assert o.paid_at.date() > o.due_date
        else:
            assert o.paid_at.date() <= o.due_date


def test_tickets_take_hours_to_answer_and_days_to_resolve() -> None:
    tickets = [t for c in PLAN.customers for t in c.tickets if t.resolved_at is not None]
    assert tickets
    assert all(t.answered_at is not None and t.answered_at - t.opened_at >= timedelta(minutes=15) for t in tickets)
    assert max(t.resolved_at - t.opened_at for t in tickets if t.resolved_at) > timedelta(days=2)
    assert any(t.escalated_at for c in PLAN.customers for t in c.tickets)


def test_the_draws_do_not_depend_on_the_present() -> None:
    later = build_plan(seed=42, customers=300, months=6, now=NOW + timedelta(days=1))
    for a, b in zip(PLAN.customers, later.customers, strict=True):
        assert (a.persona, a.joined_month, a.email) == (b.persona, b.joined_month, b.email)
        assert [o.lines for o in a.orders] == [o.lines for o in b.orders][: len(a.orders)]


def test_operations_count_the_steps_for_the_progress_bar() -> None:
    assert PLAN.operations() == sum(len(c.steps()) for c in PLAN.customers) > len(PLAN.customers) * 3


def test_the_command_line_has_the_documented_options() -> None:
    args = parse_args(["--customers", "50", "--months", "3", "--seed", "9", "--live",
                       "--as-of", "2026-03-01T10:00:00Z"])
    assert (args.customers, args.months, args.seed, args.live) == (50, 3, 9, True)
    assert args.as_of == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert parse_args([]).customers == 300
