"""The campaigns service reads platform settings under their shared names, its own with a prefix."""

from __future__ import annotations

import pytest

from services.campaigns.config import CampaignsSettings


def test_platform_settings_are_not_prefixed_and_own_knobs_are(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker-a:9092")
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("CAMPAIGNS_FREQUENCY_CAP", "5")
    settings = CampaignsSettings()
    assert settings.kafka_bootstrap_servers == "broker-a:9092"
    assert settings.environment == "test"
    assert settings.frequency_cap == 5


def test_a_placeholder_secret_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "prod")
    monkeypatch.setenv("AUTH_OIDC_ISSUER", "https://idp.example.com/realms/c360")
    monkeypatch.delenv("AUTH_JWT_SECRET", raising=False)
    with pytest.raises(ValueError, match="AUTH_JWT_SECRET must be set"):
        CampaignsSettings()


def test_production_refuses_to_start_with_only_the_shared_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "prod")
    monkeypatch.setenv("AUTH_JWT_SECRET", "a-real-secret-but-hs256-is-for-local-and-tests-only")
    monkeypatch.delenv("AUTH_OIDC_ISSUER", raising=False)
    monkeypatch.delenv("AUTH_JWT_ALGORITHM", raising=False)
    expected = r"set AUTH_OIDC_ISSUER .* or AUTH_JWT_ALGORITHM=RS256 with AUTH_JWT_PUBLIC_KEY"
    with pytest.raises(ValueError, match=expected):
        CampaignsSettings()
