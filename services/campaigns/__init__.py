"""Campaigns service: event-based marketing, offers, budgets, control groups and surveys."""
