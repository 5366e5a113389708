"""The demo replays months of history in simulated time, and the KPIs and the 360 show those months."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import yaml

from demo.plan import CustomerPlan
from shared.testing.plugin import REPO_ROOT
from shared.testing.waiting import eventually_sync
from tests.demo.conftest import LoadedDemo

pytestmark = [pytest.mark.timeout(900)]

WAIT = 120.0
ACTIVITY_STEPS = frozenset({"register", "place_order", "return_order", "pay_invoice", "open_ticket", "answer_survey"})
"""Plan steps whose events show the customer engaged (analytics' ACTIVITY: registered, ordered, returned,
paid, opened a ticket, answered a survey); inactivity counts from the last of them."""


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def whole_history(demo: LoadedDemo) -> dict[str, str]:
    start = datetime.combine(demo.plan.start, datetime.min.time(), demo.plan.now.tzinfo)
    return {"from": rfc3339(start), "to": rfc3339(demo.plan.now + timedelta(days=1))}


def customer_id(demo: LoadedDemo, customer: CustomerPlan) -> str:
    return str(demo.get("customer", "customers", email=customer.email)["items"][0]["id"])


def test_nps_by_month_shows_at_least_three_months_of_answers(loaded_demo: LoadedDemo) -> None:
    answered = {s.answered_at.strftime("%Y-%m") for c in loaded_demo.plan.customers for s in c.surveys
                if s.kind == "nps" and s.answered_at is not None}
    assert len(answered) >= 3, "the plan itself spreads NPS answers over the months"

    def months_with_answers() -> set[str]:
        nps = loaded_demo.get("analytics", "kpis/nps", period="month", **whole_history(loaded_demo))
        return {p["period"][:7] for p in nps["by_period"] if p["responses"] > 0}

    seen = eventually_sync(months_with_answers, until=lambda months: months == answered, timeout=WAIT,
                           interval=1.0, message="NPS answers projected into their simulated months")
    assert len(seen) >= 3


def test_a_customer_timeline_spans_the_months_of_their_story(loaded_demo: LoadedDemo) -> None:
    customer = max(loaded_demo.plan.customers, key=lambda c: c.steps()[-1].at - c.steps()[0].at)
    steps = customer.steps()
    assert steps[-1].at - steps[0].at > timedelta(days=30)
    cid = customer_id(loaded_demo, customer)

    def timeline_times() -> list[datetime]:
        times: list[datetime] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = loaded_demo.get("analytics", f"customers/{cid}/timeline", **params)
            times.extend(datetime.fromisoformat(item["time"].replace("Z", "+00:00")) for item in page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return times

    times = eventually_sync(timeline_times, until=lambda t: bool(t) and min(t) <= steps[0].at
                            and max(t) >= steps[-1].at, timeout=WAIT, interval=1.0,
                            message="the timeline from registration to the last step")
    assert max(times) - min(times) > timedelta(days=30)
    assert min(times) == steps[0].at, "the registration is dated at its simulated moment"


def test_a_churner_reaches_dissolution_dated_in_the_history_and_counts_in_churn_by_month(
    loaded_demo: LoadedDemo,
) -> None:
    churner = next(c for c in loaded_demo.plan.customers if any(s.key.endswith("-winback") for s in c.surveys))
    winback = next(s for s in churner.surveys if s.key.endswith("-winback"))
    cid = customer_id(loaded_demo, churner)

    def stage() -> dict[str, Any] | None:
        view = loaded_demo.get("analytics", f"customers/{cid}/360")
        lifecycle: dict[str, Any] | None = view.get("lifecycle_stage")
        return lifecycle

    lifecycle = eventually_sync(stage, until=lambda s: s is not None and s["stage"] == "dissolution", timeout=WAIT,
                                interval=1.0, message="the quiet churner in dissolution")
    assert lifecycle is not None
    # Dissolution dates from the instant inactivity reached the rules' threshold (docs/analytics-rules.md),
    # whichever event (here the win-back survey, sent after it) made the projection notice it.
    rules = yaml.safe_load((REPO_ROOT / "demo" / "analytics-rules.yaml").read_text())
    last_activity = max(step.at for step in churner.steps() if step.action in ACTIVITY_STEPS)
    reached = last_activity + timedelta(days=rules["dissolution_inactive_days"])
    assert reached <= winback.sent_at, "the plan sends the win-back survey after the threshold"
    assert datetime.fromisoformat(lifecycle["since"].replace("Z", "+00:00")) == reached
    churn = loaded_demo.get("analytics", "kpis/churn", **whole_history(loaded_demo))
    month = reached.strftime("%Y-%m")
    assert [m["churned"] for m in churn["by_month"] if m["month"].startswith(month)] >= [1]
    assert len(churn["by_month"]) == loaded_demo.plan.months


def test_service_times_and_acquisition_spread_over_several_months(loaded_demo: LoadedDemo) -> None:
    plan = loaded_demo.plan
    opened_months = {t.opened_at.strftime("%Y-%m") for c in plan.customers for t in c.tickets}
    joined_months = {c.registered_at.strftime("%Y-%m") for c in plan.customers}

    def per_month(kpi: str, count: str) -> set[str]:
        found = set()
        for month in range(plan.months):
            first = datetime.combine(plan.start, datetime.min.time(), plan.now.tzinfo)
            begin = (first + timedelta(days=31 * month)).replace(day=1)
            end = (begin + timedelta(days=32)).replace(day=1)
            if loaded_demo.get("analytics", f"kpis/{kpi}", **{"from": rfc3339(begin), "to": rfc3339(end)})[count]:
                found.add(begin.strftime("%Y-%m"))
        return found

    tickets = eventually_sync(lambda: per_month("service", "tickets"), until=lambda m: m == opened_months,
                              timeout=WAIT, interval=1.0, message="tickets in the months they were opened")
    acquired = eventually_sync(lambda: per_month("clv", "customers"), until=lambda m: m == joined_months,
                               timeout=WAIT, interval=1.0, message="customers in the months they joined")
    assert len(tickets) >= 2 and len(acquired) >= 2
