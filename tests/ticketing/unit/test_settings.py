"""The configurable vocabularies, reopen window and SLA policy come from ``TICKETING_*`` settings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.ticketing.config import TicketingSettings
from services.ticketing.domain.model import DEFAULT_ROOT_CAUSES, DEFAULT_TRANSFER_REASONS
from services.ticketing.domain.sla import DEDICATED_TIER

POLICY = (
    '{"standard": {"low": [600, 6000], "normal": [300, 3000], "high": [60, 600], "urgent": [10, 100]},'
    ' "dedicated_assistance": {"urgent": [5, 50]}}'
)


def test_the_defaults_are_the_issues_lists_and_a_two_tier_policy() -> None:
    settings = TicketingSettings(environment="test")
    assert settings.rules.transfer_reasons == DEFAULT_TRANSFER_REASONS
    assert set(DEFAULT_TRANSFER_REASONS) == {
        "wrong_skill",
        "escalation_required",
        "out_of_office",
        "workload_balancing",
        "customer_request",
        "other",
    }
    assert settings.rules.root_causes == DEFAULT_ROOT_CAUSES
    assert settings.rules.reopen_window == timedelta(days=14)
    policy = settings.sla_policy
    assert policy.targets_for("urgent", DEDICATED_TIER).first_response < policy.targets_for("urgent").first_response


def test_the_environment_configures_lists_window_and_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETING_TRANSFER_REASONS", '["language", "other"]')
    monkeypatch.setenv("TICKETING_ROOT_CAUSES", '["courier", "other"]')
    monkeypatch.setenv("TICKETING_REOPEN_WINDOW_DAYS", "3")
    monkeypatch.setenv("TICKETING_SLA_POLICY", POLICY)
    settings = TicketingSettings(environment="test")
    assert tuple(settings.rules.transfer_reasons) == ("language", "other")
    assert tuple(settings.rules.root_causes) == ("courier", "other")
    assert settings.rules.reopen_window == timedelta(days=3)
    policy = settings.sla_policy
    assert policy.targets_for("urgent").first_response == timedelta(minutes=10)
    assert policy.targets_for("urgent", DEDICATED_TIER).resolution == timedelta(minutes=50)
    assert policy.targets_for("high", DEDICATED_TIER) == policy.targets_for("high"), "falls back to standard"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TICKETING_SLA_POLICY", '{"standard": {"low": [10, 20]}}'),
        ("TICKETING_SLA_POLICY", POLICY.replace("[10, 100]", "[100, 10]")),
        ("TICKETING_SLA_POLICY", POLICY.replace("[10, 100]", "[0, 100]")),
        ("TICKETING_TRANSFER_REASONS", "[]"),
        ("TICKETING_ROOT_CAUSES", "[]"),
        ("TICKETING_REOPEN_WINDOW_DAYS", "-1"),
    ],
)
def test_a_bad_configuration_is_refused_at_start(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        TicketingSettings(environment="test")
