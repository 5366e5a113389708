"""Imported history never fires marketing; live events after the import still do.

The campaigns engine is fed through the consumer kit's real decode + inbox path, with envelopes as
the relay publishes them: imported ones carry the ``ce_c360history`` header (ADR 0009).
"""

from __future__ import annotations

from dataclasses import replace

from shared.contracts.analytics import SegmentEntered
from shared.events.envelope import HISTORY_HEADER, HISTORY_IMPORT, Envelope, new_envelope
from tests.campaigns.integration.test_engine import NOON, World, an_order, envelope, world  # noqa: F401


def imported(live: Envelope) -> Envelope:
    return replace(live, extra={HISTORY_HEADER: HISTORY_IMPORT})


async def test_an_imported_order_sends_no_offer_but_a_live_one_after_it_does(world: World) -> None:  # noqa: F811
    await world.campaign()
    customer = await world.customer()
    await world.deliver(imported(envelope(an_order(customer))))
    assert [kind for kind, _ in await world.events_about(customer) if kind in ("OfferSent", "MessageSuppressed")] == []
    assert await world.message_requests(customer) == 0
    await world.deliver(envelope(an_order(customer)))
    assert [kind for kind, _ in await world.events_about(customer) if kind == "OfferSent"] == ["OfferSent"]
    assert await world.message_requests(customer) == 1


async def test_a_segment_entry_derived_from_imported_history_triggers_nothing(world: World) -> None:  # noqa: F811
    await world.campaign(trigger={"event_type": "SegmentEntered"})
    customer = await world.customer()
    entered = SegmentEntered.model_validate({"customer_id": customer, "segment": "high_value",
                                             "rule": "high_value", "decided_at": NOON})
    signal = new_envelope(entered, service="analytics", subject=customer, time=NOON)
    await world.deliver(imported(signal))
    assert await world.message_requests(customer) == 0
    await world.deliver(new_envelope(entered, service="analytics", subject=customer, time=NOON))
    assert await world.message_requests(customer) == 1
