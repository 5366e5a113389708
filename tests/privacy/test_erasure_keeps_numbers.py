"""Erasure keeps the numbers (issue 20.2): erasing people removes their personal data, not the facts.

A small company's worth of customers register, order, answer an NPS survey, complain (a ticket that
is answered, transferred and resolved) and receive a campaign's offer. Every KPI the analytics API
exposes is then read, a sample of the customers is erased (every service acknowledges), and every KPI
is read again: NPS per period and segment, revenue and CLV, churn, campaign results and service
times must be exactly what they were. Then the read models are rebuilt from the topics (the
set-based rebuild and its swap) and the KPIs are read a third time: still the same.

What "unchanged" means: every period up to the erasure. An erasure is itself a fact from then on (the
erased customer is in dissolution by rule ``dissolution.erased`` from the moment of the erasure, so a
month after it counts them as churned), so the window ends when the KPIs are first measured. The one
part of a KPI that may change is listed in ``PERSONAL_PARTS`` with the reason.

The KPIs are not listed by hand: they are every ``GET /v1/kpis/...`` route of the analytics API's
OpenAPI document, so a new KPI route is measured here from the day it exists, or fails this test if
it needs a parameter this test does not know how to give.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.privacy.calls import expect as _ok
from tests.privacy.calls import fresh_key as _key
from tests.privacy.calls import wait_for as _wait
from tests.privacy.conftest import Platform

pytestmark = pytest.mark.timeout(900)

CUSTOMERS = 8
ERASED = (1, 5, 6)
"""Which of the customers are erased: a promoter, a detractor and a passive, each with orders and a ticket."""

SCORES = (10, 9, 3, 7, 10, 0, 8, 6)
"""One NPS answer each: promoters, passives and detractors on both sides of the erasure."""

HIGH_VALUE = (1, 2, 5)
"""Customers whose order puts them in the ``high_value`` segment (CLV over 5000): two of them erased, so
NPS per segment is measured with erased members (a promoter and a detractor) and a kept one."""

KNOWN_PARAMETERS: dict[str, Callable[[datetime, datetime], list[tuple[str, str]]]] = {
    "from": lambda start, end: [("from", start.isoformat())],
    "to": lambda start, end: [("to", end.isoformat())],
    "period": lambda start, end: [("period", "day")],
}
"""How this test fills each query parameter a KPI route declares (optional ones are left out too)."""

OPTIONAL_VARIANTS: dict[str, list[tuple[str, str]]] = {"period": [("period", "month")]}
"""Optional parameters also measured with another value: NPS per day and per month."""


PERSONAL_PARTS: dict[str, tuple[str, str]] = {
    "/v1/kpis/nps/reasons": ("reasons", "the words of each customer's own 'main reason' text (they can hold the "
                                        "person's name) go with the erasure; the scores beside them must not"),
}
"""KPI route → the key, at any depth of its answer, that is derived from personal text, and why."""





def kpi_requests(openapi: dict[str, Any], start: datetime, end: datetime) -> dict[str, list[tuple[str, str]]]:
    """Every KPI route of the OpenAPI document with the query this test sends it (one per variant).

    A required parameter this test cannot fill fails the test: a new KPI must be measured here.
    """
    requests: dict[str, list[tuple[str, str]]] = {}
    for path, operations in sorted(openapi["paths"].items()):
        if not path.startswith("/v1/kpis") or "get" not in operations:
            continue
        assert "{" not in path, f"{path}: a KPI route with a path parameter; teach this test to measure it"
        query: list[tuple[str, str]] = []
        variants: list[tuple[str, list[tuple[str, str]]]] = []
        for parameter in operations["get"].get("parameters", []):
            name = parameter["name"]
            if parameter.get("in") != "query":
                continue
            if name in KNOWN_PARAMETERS:
                query += KNOWN_PARAMETERS[name](start, end)
                for variant in OPTIONAL_VARIANTS.get(name, []):
                    variants.append((name, [variant]))
            else:
                assert not parameter.get("required"), f"{path}: required parameter {name!r} this test cannot fill"
        requests[path] = query
        for name, replacement in variants:
            requests[f"{path}?{name}={replacement[0][1]}"] = [q for q in query if q[0] != name] + replacement
    return requests


def measure(platform: Platform, http: httpx.Client, requests: dict[str, list[tuple[str, str]]]) -> dict[str, Any]:
    """Every KPI, as the API answers it."""
    measured: dict[str, Any] = {}
    for label, query in requests.items():
        path = label.split("?")[0]
        measured[label] = _ok(http.get(platform.urls["analytics"] + path, params=query), 200)
    return measured


def _a_customer(platform: Platform, http: httpx.Client, campaign_id: str, n: int) -> str:
    urls = platform.urls
    tag = uuid.uuid4().hex[:8]
    customer = _ok(http.post(f"{urls['customer']}/v1/customers", headers=_key(), json={
        "name": f"Kpi Person{n} {tag}", "email": f"kpi.{n}.{tag}@example.com", "phone": f"+9055510{n:05d}",
        "acquisition_channel": ("web", "store", "referral")[n % 3], "relationship_type": "long_term",
        "consents": {"email": True, "sms": True},
    }), 201)
    customer_id = str(customer["id"])
    for line in range(1 + n % 2):
        price = f"{5200 + n}.90" if n in HIGH_VALUE and line == 0 else f"{19 + 7 * n}.90"
        _ok(http.post(f"{urls['customer']}/v1/orders", headers=_key(), json={
            "customer_id": customer_id, "currency": "EUR", "channel": "web",
            "lines": [{"sku": f"K-{line}", "name": "Kettle", "category": "kitchen", "quantity": 1 + n,
                       "unit_price": price}],
        }), 201)

    def campaign_decided() -> bool:
        view = http.get(f"{urls['analytics']}/v1/customers/{customer_id}/timeline", params={"limit": 200})
        return view.status_code == 200 and bool({"OfferSent", "HeldOut"} & {i["type"] for i in view.json()["items"]})

    # The campaign decides on the order before a detractor answer or the complaint can hold it.
    _wait(campaign_decided, timeout=120, what="the campaign's decision on the order")
    survey = _ok(http.post(f"{urls['campaigns']}/v1/surveys", headers=_key(),
                           json={"customer_id": customer_id, "kind": "nps"}), 201)
    _ok(httpx.post(f"{urls['campaigns']}/v1/surveys/{survey['id']}/responses", timeout=30.0, json={
        "token": survey["response_token"], "score": SCORES[n], "comment": f"Person{n} {tag} says the kettle leaks",
    }), 201)
    ticket = _ok(http.post(f"{urls['ticketing']}/v1/tickets", headers=_key(), json={
        "customer_id": customer_id, "kind": "complaint", "channel": "phone", "priority": "high",
        "subject": f"Kettle leaks - Person{n} {tag}", "description": f"Call Person{n} {tag} back.",
        "agent_id": "agent-a",
    }), 201)
    version = ticket["version"]
    answered = _ok(http.post(f"{urls['ticketing']}/v1/tickets/{ticket['id']}/comments",
                             headers={**_key(), "If-Match": f'"{version}"'},
                             json={"body": "We are on it.", "visibility": "public", "author_id": "agent-a"}), 201)
    version = answered["version"]
    if n % 2:
        moved = _ok(http.post(f"{urls['ticketing']}/v1/tickets/{ticket['id']}/transfer",
                              headers={**_key(), "If-Match": f'"{version}"'},
                              json={"to_agent_id": "agent-b", "reason": "wrong_skill"}), 200)
        version = moved["version"]
    _ok(http.post(f"{urls['ticketing']}/v1/tickets/{ticket['id']}/resolve",
                  headers={**_key(), "If-Match": f'"{version}"'},
                  json={"resolution": "Replaced the kettle", "root_cause": "product_defect"}), 200)
    return customer_id


def _campaign(platform: Platform, http: httpx.Client) -> str:
    campaigns = platform.urls["campaigns"]
    campaign = _ok(http.post(f"{campaigns}/v1/campaigns", headers=_key(), json={
        "name": "Kettle owners", "objective": "cross_sell",
        "trigger": {"event_type": "OrderPlaced"},
        "action": {"kind": "offer", "channels": ["email"], "template": "descaler",
                   "offer": {"sku": "DESCALER", "discount_pct": 10, "valid_days": 30}},
        "caps": {"per_customer": 1},
        "budget": {"total": "1000.00", "cost_per_send": {"email": "0.10", "sms": "0.50"}},
        "control_group_pct": 25,
    }), 201)
    _ok(http.post(f"{campaigns}/v1/campaigns/{campaign['id']}/activate", headers={"If-Match": '"1"'}), 200)
    return str(campaign["id"])


class Measured:
    """The KPIs before the erasure, after it, and after a rebuild of the read models."""

    def __init__(self) -> None:
        self.before: dict[str, Any] = {}
        self.after: dict[str, Any] = {}
        self.rebuilt: dict[str, Any] = {}
        self.erased: list[str] = []
        self.customers: list[str] = []


@pytest.fixture(scope="module")
def measured(privacy_platform: Platform) -> Measured:
    platform, result = privacy_platform, Measured()
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=62)
    analytics = platform.urls["analytics"]
    with platform.client() as http:
        openapi = _ok(http.get(f"{analytics}/openapi.json"), 200)
        campaign_id = _campaign(platform, http)
        result.customers = [_a_customer(platform, http, campaign_id, n) for n in range(CUSTOMERS)]
        # every period up to the erasure (see the module's docstring)
        requests = kpi_requests(openapi, start, datetime.now(UTC) + timedelta(seconds=1))
        assert {"/v1/kpis/nps", "/v1/kpis/churn", "/v1/kpis/clv", "/v1/kpis/service",
                "/v1/kpis/campaigns"} <= set(requests)

        def settled() -> dict[str, Any] | None:
            kpis = measure(platform, http, requests)
            service, nps = kpis["/v1/kpis/service"], kpis["/v1/kpis/nps"]
            campaigns = kpis["/v1/kpis/campaigns"]["items"]
            decided = sum(c["sends"] + c["control_group"] for c in campaigns)
            views = [http.get(f"{analytics}/v1/customers/{c}/360") for c in result.customers]
            seen = all(v.status_code == 200 and v.json()["orders"]["count"] >= 1 for v in views)
            done = (service["resolved"] == CUSTOMERS and nps["responses"] == CUSTOMERS
                    and decided == CUSTOMERS and kpis["/v1/kpis/clv"]["customers"] == CUSTOMERS and seen)
            return kpis if done else None

        _wait(settled, timeout=120, what="analytics to see every ticket, answer, order and campaign decision")
        result.before = measure(platform, http, requests)

        result.erased = [result.customers[i] for i in ERASED]
        for customer_id in result.erased:
            _ok(http.delete(f"{platform.urls['customer']}/v1/customers/{customer_id}"), 204)
        for customer_id in result.erased:
            erasure = f"{platform.urls['customer']}/v1/customers/{customer_id}/erasure"
            _wait(lambda erasure=erasure: http.get(erasure).json()["complete"], timeout=90,
                  what=f"every service to acknowledge the erasure of {customer_id}")
            view = f"{analytics}/v1/customers/{customer_id}/360"
            _wait(lambda view=view: http.get(view).json()["status"] == "erased", timeout=90,
                  what="analytics to apply the erasure")
        result.after = measure(platform, http, requests)

    platform.stop("analytics-projector")  # the rebuild swaps the live schema; the live worker would race it
    rebuilt = platform.run([sys.executable, "-m", "services.analytics.rebuild", "--batch", "500"], timeout=300)
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert "swapped in" in rebuilt.stdout
    with platform.client() as http:
        _wait(lambda: http.get(f"{analytics}/v1/customers/{result.erased[0]}/360").status_code == 200,
              timeout=30, what="the rebuilt read models to answer")
        result.rebuilt = measure(platform, http, requests)
    return result


def _without(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, key) for k, v in value.items() if k != key}
    if isinstance(value, list):
        return [_without(v, key) for v in value]
    return value


def _facts(label: str, answer: Any) -> Any:
    """The answer without the part derived from personal text (``PERSONAL_PARTS``)."""
    part = PERSONAL_PARTS.get(label.split("?")[0])
    return _without(answer, part[0]) if part else answer


def _differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    assert set(before) == set(after)
    return [f"{kpi}:\n  before {before[kpi]}\n  after  {after[kpi]}"
            for kpi in before if _facts(kpi, before[kpi]) != _facts(kpi, after[kpi])]


def test_the_sample_is_really_in_the_numbers(measured: Measured) -> None:
    """The KPIs count the erased customers' facts, so keeping them equal means something."""
    nps, service = measured.before["/v1/kpis/nps"], measured.before["/v1/kpis/service"]
    assert (nps["promoters"], nps["passives"], nps["detractors"]) == (3, 2, 3)
    assert service["tickets"] == CUSTOMERS and service["transfer_rate"] == "50.0"
    assert measured.before["/v1/kpis/clv"]["customers"] == CUSTOMERS
    assert sum(c["sends"] + c["control_group"] for c in measured.before["/v1/kpis/campaigns"]["items"]) == CUSTOMERS
    # NPS per segment counts erased members: the high-value segment holds two of the erased answers
    for label in ("/v1/kpis/nps", "/v1/kpis/nps/reasons"):
        segments = {s["segment"]: s for s in measured.before[label]["by_segment"]}
        assert "high_value" in segments, f"{label}: {measured.before[label]['by_segment']}"
        high = segments["high_value"]
        assert (high["promoters"], high["passives"], high["detractors"]) == (1, 0, 2), high


def test_every_kpi_is_unchanged_by_the_erasure(measured: Measured) -> None:
    changed = _differences(measured.before, measured.after)
    assert not changed, "KPIs changed by erasing customers:\n" + "\n".join(changed)


def test_every_kpi_is_unchanged_after_rebuilding_the_read_models(measured: Measured) -> None:
    changed = _differences(measured.before, measured.rebuilt)
    assert not changed, "KPIs changed by rebuilding after the erasure:\n" + "\n".join(changed)
