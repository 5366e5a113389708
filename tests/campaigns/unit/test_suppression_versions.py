"""MessageSuppressed v2 adds ``no_recommendation``; v1 records, already on the topic, still read."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.contracts.campaigns import MessageSuppressed, MessageSuppressedV1, SuppressionReason
from shared.events.catalog import CATALOG

V1 = {"campaign_id": "c-1", "customer_id": "cust-1", "reason": "channel_conflict", "detail": "a live offer",
      "triggering_event_id": "e-1"}


def test_a_v1_suppression_reads_as_the_latest_version() -> None:
    decoded = CATALOG.decode("MessageSuppressed", 1, dict(V1))
    assert isinstance(decoded, MessageSuppressed)
    assert decoded.reason is SuppressionReason.CHANNEL_CONFLICT
    assert MessageSuppressed.event_version == 2


def test_no_recommendation_is_a_v2_reason_that_a_v1_reader_would_refuse() -> None:
    data = {**V1, "reason": "no_recommendation"}
    decoded = CATALOG.decode("MessageSuppressed", 2, dict(data))
    assert isinstance(decoded, MessageSuppressed) and decoded.reason is SuppressionReason.NO_RECOMMENDATION
    with pytest.raises(ValidationError):
        MessageSuppressedV1.model_validate(data)
