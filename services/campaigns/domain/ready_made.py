"""The ready-made campaigns, as definition documents the demo loads through ``POST /v1/campaigns``.

Data, not code: each is exactly the JSON body a marketer would send, so the demo exercises the same
validation and the same engine as any hand-made campaign.
"""

from __future__ import annotations

from typing import Any

WELCOME_AFTER_FIRST_ORDER: dict[str, Any] = {
    "name": "Welcome after the first order",
    "objective": "onboarding",
    "trigger": {"event_type": "OrderPlaced", "condition": "customer.orders_count == 1"},
    "action": {"kind": "message", "channels": ["email", "push", "sms"], "template": "welcome"},
    "caps": {"per_customer": 1},
    "budget": {"total": "500.00", "cost_per_send": {"email": "0.05", "push": "0.01", "sms": "0.40"}},
    "control_group_pct": 10,
}

NPS_AFTER_FIRST_ORDER: dict[str, Any] = {
    "name": "NPS survey 30 days after the first order",
    "objective": "survey",
    "trigger": {"event_type": "OrderPlaced", "condition": "customer.orders_count == 1", "delay": "30 days"},
    "action": {"kind": "survey", "survey_kind": "nps", "channels": ["email", "sms"], "template": "nps-survey"},
    "caps": {"per_customer": 1},
}

CSAT_WHEN_TICKET_RESOLVED: dict[str, Any] = {
    "name": "CSAT survey when a ticket is resolved",
    "objective": "survey",
    "trigger": {"event_type": "TicketResolved"},
    "action": {"kind": "survey", "survey_kind": "csat", "channels": ["email", "sms"], "template": "csat-survey"},
    "caps": {"per_customer": 100},
}

SERVICE_RECOVERY_AFTER_SLA_BREACH: dict[str, Any] = {
    "name": "Service recovery: apology and voucher after an SLA breach",
    "objective": "service_recovery",
    "trigger": {"event_type": "SlaBreached"},
    "action": {"kind": "offer", "channels": ["email", "sms"], "template": "apology-voucher",
               "offer": {"category": "service-voucher", "discount_pct": 15, "valid_days": 60}},
    "caps": {"per_customer": 3},
    "budget": {"total": "2000.00", "cost_per_send": {"email": "0.10", "sms": "0.50"}},
}

SERVICE_RECOVERY_AFTER_DETRACTOR_ANSWER: dict[str, Any] = {
    "name": "Service recovery: apology and voucher after a detractor answer",
    "objective": "service_recovery",
    "trigger": {"event_type": "SurveyAnswered", "condition": "event.nps_category == 'detractor'"},
    "action": {"kind": "offer", "channels": ["email", "sms"], "template": "apology-voucher",
               "offer": {"category": "service-voucher", "discount_pct": 15, "valid_days": 60}},
    "caps": {"per_customer": 3},
    "budget": {"total": "2000.00", "cost_per_send": {"email": "0.10", "sms": "0.50"}},
}
"""Service recovery has two triggers, hence two definitions sharing one voucher: an SLA breach and a
detractor answer. The same ``service-voucher`` category means channel integration never gives one
customer two live vouchers when both happen."""

WINBACK_ON_HIGH_CHURN_RISK: dict[str, Any] = {
    "name": "Win-back when churn risk turns high",
    "objective": "winback",
    "trigger": {"event_type": "ChurnRiskChanged", "condition": "event.to_band == 'high'"},
    "audience": {"exclude_segments": ["fraud_flagged", "serial_complainer"]},
    "action": {"kind": "offer", "channels": ["email", "sms"], "template": "we-miss-you",
               "offer": {"category": "winback", "discount_pct": 20, "valid_days": 30}},
    "caps": {"per_customer": 1},
    "budget": {"total": "3000.00", "cost_per_send": {"email": "0.10", "sms": "0.50"}},
    "control_group_pct": 20,
}

LOYALTY_REWARD_HIGH_VALUE: dict[str, Any] = {
    "name": "Loyalty reward on entering the high-value segment",
    "objective": "loyalty",
    "trigger": {"event_type": "SegmentEntered", "condition": "event.segment == 'high_value'"},
    "action": {"kind": "offer", "channels": ["email", "push"], "template": "loyalty-reward",
               "offer": {"category": "loyalty-reward", "discount_pct": 10, "valid_days": 90}},
    "caps": {"per_customer": 1},
    "budget": {"total": "5000.00", "cost_per_send": {"email": "0.10", "push": "0.02"}},
    "control_group_pct": 10,
}

CASHBACK_OVER_THRESHOLD: dict[str, Any] = {
    "name": "Cashback over a spend threshold",
    "objective": "loyalty",
    "trigger": {"event_type": "OrderPlaced", "condition": "event.total >= 2000"},
    "audience": {"exclude_segments": ["fraud_flagged", "deal_seeker"]},
    "action": {"kind": "offer", "channels": ["email", "sms"], "template": "cashback",
               "offer": {"category": "cashback", "discount_pct": 5, "valid_days": 30}},
    "caps": {"per_customer": 5},
    "budget": {"total": "10000.00", "cost_per_send": {"email": "0.10", "sms": "0.50"}},
    "control_group_pct": 10,
}

BIRTHDAY_GREETING: dict[str, Any] = {
    "name": "Birthday greeting",
    "objective": "loyalty",
    "trigger": {"schedule": "birthday"},
    "action": {"kind": "message", "channels": ["email", "push", "sms"], "template": "happy-birthday"},
    "caps": {"per_customer": 100},
}

CROSS_SELL_FROM_RECOMMENDATIONS: dict[str, Any] = {
    "name": "Cross-sell from the customer's recommendations",
    "objective": "cross_sell",
    "trigger": {"event_type": "RecommendationsChanged", "condition": "event.recommendations != []"},
    "audience": {"exclude_segments": ["fraud_flagged"]},
    "action": {"kind": "offer", "channels": ["email", "sms"], "template": "recommended-for-you",
               "offer": {"from_recommendations": True, "discount_pct": 10, "valid_days": 30}},
    "caps": {"per_customer": 2},
    "budget": {"total": "1000.00", "cost_per_send": {"email": "0.10", "sms": "0.50"}},
    "control_group_pct": 10,
}
"""Triggered by analytics' ``RecommendationsChanged``, not by a big ``OrderPlaced``: a marketer means
"offer what this customer is likely to buy next", right after a purchase changed it. The order
reaches campaigns before analytics has folded it into the recommendations, so an order trigger
would offer from the list as it was *before* the purchase, possibly the very product just bought.
``RecommendationsChanged`` comes once analytics counted the purchase (owned products are never
recommended), and only when the list really changed. The engine offers the first recommended sku
without a live offer (channel integration); the condition skips a list that emptied."""

READY_MADE: dict[str, dict[str, Any]] = {
    "welcome": WELCOME_AFTER_FIRST_ORDER,
    "nps_after_first_order": NPS_AFTER_FIRST_ORDER,
    "csat_ticket_resolved": CSAT_WHEN_TICKET_RESOLVED,
    "service_recovery": SERVICE_RECOVERY_AFTER_SLA_BREACH,
    "service_recovery_detractor": SERVICE_RECOVERY_AFTER_DETRACTOR_ANSWER,
    "winback": WINBACK_ON_HIGH_CHURN_RISK,
    "loyalty_high_value": LOYALTY_REWARD_HIGH_VALUE,
    "cashback": CASHBACK_OVER_THRESHOLD,
    "birthday": BIRTHDAY_GREETING,
    "cross_sell": CROSS_SELL_FROM_RECOMMENDATIONS,
}
"""Key → definition document; the demo POSTs each and activates it."""

RELATIONSHIP_NPS: dict[str, Any] = {
    "name": "Relationship NPS every 90 days",
    "objective": "survey",
    "trigger": {"schedule": "relationship_survey"},
    "action": {"kind": "survey", "survey_kind": "nps", "channels": ["email", "sms"], "template": "nps-survey",
               "survey": {"purpose": "relationship", "period_days": 90}},
    "caps": {"per_customer": 1000},
}
"""The daily sweep asks every customer not asked for 90 days and without an open complaint (who is asked
once it is resolved). The per-customer cap is high on purpose: the period is what limits it."""

NPS_AFTER_DELIVERY: dict[str, Any] = {
    "name": "Transactional NPS after a delivered order",
    "objective": "survey",
    "trigger": {"event_type": "OrderDelivered"},
    "action": {"kind": "survey", "survey_kind": "nps", "channels": ["email", "sms"], "template": "nps-delivery",
               "survey": {"purpose": "transactional",
                          "questions": [{"id": "delivery", "kind": "csat", "prompt": "How was the delivery?"}]}},
    "caps": {"per_customer": 1000},
}

NPS_AFTER_RESOLVED_TICKET: dict[str, Any] = {
    "name": "Transactional NPS after a resolved ticket",
    "objective": "survey",
    "trigger": {"event_type": "TicketResolved"},
    "action": {"kind": "survey", "survey_kind": "nps", "channels": ["email", "sms"], "template": "nps-support",
               "survey": {"purpose": "transactional",
                          "questions": [{"id": "contact", "kind": "choice", "prompt": "How did you reach us?",
                                         "options": ["phone", "email", "chat"]}]}},
    "caps": {"per_customer": 1000},
}

SURVEY_PROGRAMS: dict[str, dict[str, Any]] = {
    "relationship_nps": RELATIONSHIP_NPS,
    "nps_after_delivery": NPS_AFTER_DELIVERY,
    "nps_after_resolved_ticket": NPS_AFTER_RESOLVED_TICKET,
}
"""Survey campaigns an operations team switches on through ``POST /v1/campaigns`` (docs/surveys.md). Not
in ``READY_MADE``: the demo would otherwise survey its whole customer base on the first sweep."""
