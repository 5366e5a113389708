"""Ticketing service: complaints and support tickets with an owner, SLA clocks, escalation and root cause."""
