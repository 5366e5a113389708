"""The 360 document: what ``GET /v1/customers/{id}/360`` answers, built from a customer's state.

Why outside ``domain/``: the fold (``domain/model.py``) decides what is true of a customer; this
module decides how the API shows it (which fields, money as strings, times as RFC 3339, personal
fields still sealed read as null). The read side (``queries.customer_360``), time travel, the tests
and the rebuilds' comparisons all build the document here, so they cannot disagree on its shape.

One function per section of the document, so a section can be read and changed on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from services.analytics.domain import formulas as f
from services.analytics.domain import model
from services.analytics.domain.model import State
from services.analytics.domain.rules import AnalyticsRules

TOP_CATEGORIES = 5
"""Categories the orders section lists (by quantity bought)."""
SUPPRESSION_RECENT_DAYS = 30
"""A suppression this recent shows as ``suppressed_recently`` in the marketing section."""


def render(
    state: State,
    *,
    now: datetime,
    rules: AnalyticsRules,
    merged_into: str | None = None,
    recommendations: list[dict[str, object]] | None = None,
) -> dict[str, Any]:
    """The 360 document as of ``now`` (JSON-ready: money as strings, times as RFC 3339)."""
    evaluated = model.evaluate(model.with_own_traits(state), now, rules)
    traits = evaluated["traits"]
    trait_in, churn_in, historic = model.inputs_at(evaluated, now, rules)
    return {
        "customer_id": state["customer_id"],
        "status": _status(state, merged_into),
        "merged_into": merged_into,
        "known": state["registered"],
        "profile": _profile(state),
        "orders": _orders(state),
        "payments": _payments(state, trait_in),
        "service": _service(state, churn_in),
        "feedback": _feedback(state, rules),
        "marketing": _marketing(state, now),
        "value": _value(state, traits, trait_in, historic, rules),
        "risk": _risk(traits["churn"]),
        "lifecycle_stage": traits["lifecycle"],
        "segments": [{"segment": name, **value} for name, value in sorted(traits["segments"].items())],
        "recommendations": recommendations or [],
        "freshness": {"last_event_at": state["last_event_at"], "evaluated_at": model.iso(now)},
    }


def _status(state: State, merged_into: str | None) -> str:
    """A customer only seen through other services' events (``unknown`` to the fold) reads as active."""
    if merged_into:
        return "merged"
    return "active" if state["status"] == "unknown" else str(state["status"])


def _personal(value: Any) -> Any:
    """Personal fields still encrypted (no key available) read as ``None``."""
    return None if isinstance(value, str) and value.startswith(model.ENCRYPTED_PREFIX) else value


def _profile(state: State) -> dict[str, Any]:
    profile = state["profile"]
    return {
        **{name: _personal(profile[name]) for name in model.PERSONAL_PROFILE_FIELDS},
        "timezone": profile["timezone"],
        "relationship_type": profile["relationship_type"],
        "account_manager": profile["account_manager"],
        "acquisition_channel": profile["acquisition_channel"],
        "acquisition_cost": profile["acquisition_cost"],
        "consents": profile["consents"],
        "interests": profile["interests"],
        "customer_since": profile["customer_since"],
        "merged_ids": sorted(state["merged_ids"]),
    }


def _orders(state: State) -> dict[str, Any]:
    orders: dict[str, Any] = state["orders"]
    counted = [o for o in orders.values() if o["counted"]]
    last_order = max(counted, key=lambda o: o["at"] or "", default=None)
    n_orders = state["n_orders"]
    spent = model.amount(state["spent"])
    return {
        "count": n_orders,
        "total_spent": model.money_text(spent),
        "total_margin": model.money_text(model.amount(state["margin_known"])),
        "average_order_value": model.money_text(spent / n_orders) if n_orders else "0.00",
        "last_order_at": last_order["at"] if last_order else None,
        "last_order": _order_summary(orders, last_order),
        "pending": _pending_orders(orders),
        "returns": state["n_returns"],
        "top_categories": _top_categories(state["categories"]),
    }


def _order_summary(orders: Mapping[str, Any], order: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if order is None:
        return None
    order_id = next(key for key, value in orders.items() if value is order)
    return {
        "order_id": order_id,
        "placed_at": order["at"],
        "total": order["total"],
        "status": order["status"],
        "items": [{"sku": sku, "name": name, "category": cat, "quantity": q} for sku, name, cat, q in order["lines"]],
    }


def _pending_orders(orders: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Orders placed or shipped but not delivered (nor cancelled), oldest first."""
    return [
        {
            "order_id": order_id,
            "status": o["status"],
            "placed_at": o["at"],
            "promised_delivery_date": o["promised"],
            "total": o["total"],
        }
        for order_id, o in sorted(orders.items(), key=lambda item: item[1]["at"] or "")
        if o["status"] in ("placed", "shipped") and o["counted"]
    ]


def _top_categories(categories: Mapping[str, int]) -> list[dict[str, Any]]:
    """The categories bought most (by quantity; ties by name)."""
    ranked = sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_CATEGORIES]
    return [{"category": name, "quantity": quantity} for name, quantity in ranked]


def _total(amounts: Iterable[Any]) -> str:
    return model.money_text(sum((model.amount(value) for value in amounts), Decimal(0)))


def _payments(state: State, trait_in: f.TraitInputs) -> dict[str, Any]:
    invoices = state["invoices"].values()
    methods: dict[str, int] = state["methods"]
    settled = state.get("settled_invoices", 0)
    late = trait_in.average_days_late
    return {
        "invoiced": _total(i["amount"] for i in invoices),
        "paid": _total(i["paid"] for i in invoices),
        "outstanding": _total(i["outstanding"] for i in invoices if not i["fully_paid"]),
        "overdue_count": state["overdue_open"],
        "overdue_total": state["overdue_total"],
        "average_days_to_pay": f"{state['days_to_pay_sum'] / settled:.1f}" if settled else None,
        "average_days_late": None if late is None else f"{late:.1f}",
        "preferred_method": min(methods, key=lambda m: (-methods[m], m)) if methods else None,
    }


def _service(state: State, churn_in: f.ChurnInputs) -> dict[str, Any]:
    tickets: dict[str, Any] = state["tickets"]
    resolved = state["resolved_count"]
    return {
        "open_tickets": sum(1 for t in tickets.values() if t["status"] in model.OPEN_TICKET_STATUSES),
        "complaints_total": len(state["complaints"]),
        "complaints_90d": churn_in.complaints_recent,
        "last_complaint_at": state["complaint_times"][-1] if state["complaint_times"] else None,
        "sla_breaches": len(state["breach_times"]),
        "transfers": state["transfers"],
        "average_resolution_hours": f"{state['resolution_seconds_sum'] / resolved / 3600:.1f}" if resolved else None,
        "open": _open_tickets(tickets),
    }


def _open_tickets(tickets: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Tickets not yet resolved or closed, oldest first (subjects still sealed read as null)."""
    return [
        {
            "ticket_id": ticket_id,
            "kind": t["kind"],
            "subject": _personal(t["subject"]),
            "owner": t["owner"],
            "status": t["status"],
            "due": t["due"],
            "opened_at": t["opened_at"],
        }
        for ticket_id, t in sorted(tickets.items(), key=lambda item: item[1]["opened_at"] or "")
        if t["status"] in model.OPEN_TICKET_STATUSES
    ]


def _feedback(state: State, rules: AnalyticsRules) -> dict[str, Any]:
    nps = state["nps"]
    return {
        "last_nps": nps["score"] if nps else None,
        "last_nps_at": nps["at"] if nps else None,
        "nps_category": f.nps_category(nps["score"], rules) if nps else None,
        "csat_average": f"{state['csat_sum'] / state['csat_count']:.2f}" if state["csat_count"] else None,
        "survey_count": state["survey_count"],
    }


def _marketing(state: State, now: datetime) -> dict[str, Any]:
    suppressed = state["last_suppressed_at"]
    return {
        "offers_received": state["offers_received"],
        "offers_redeemed": state["offers_redeemed"],
        "last_offer": state["last_offer"],
        "suppressed_recently": suppressed is not None
        and suppressed >= model.iso(now - timedelta(days=SUPPRESSION_RECENT_DAYS)),
    }


def _value(
    state: State, traits: Mapping[str, Any], trait_in: f.TraitInputs, historic: Decimal, rules: AnalyticsRules
) -> dict[str, Any]:
    """Customer lifetime value so far and predicted (from the churn score), and the value tier."""
    predicted = f.clv_predicted(
        historic=historic,
        value_to_date=model.amount(state["margin_known"]) + model.amount(state["revenue_without_cost"]),
        tenure_days=trait_in.tenure_days,
        churn_score=Decimal(traits["churn"]["score"]),
        rules=rules,
    )
    tier = traits["tier"]
    return {
        "clv_historic": model.money_text(historic),
        "clv_predicted": model.money_text(predicted),
        "value_tier": tier["tier"] if tier else None,
        "provenance": tier["provenance"] if tier else [],
    }


def _risk(churn: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "churn_risk": churn["score"],
        "churn_band": churn["band"],
        "factors": churn["factors"],
        "since": churn["since"],
        "provenance": churn["provenance"],
    }
