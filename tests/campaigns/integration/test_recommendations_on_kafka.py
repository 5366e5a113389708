"""Offers from the customer's recommendations, on the real topics: analytics' list in, the offer and message out."""

from __future__ import annotations

import uuid

from services.campaigns.domain.ready_made import CROSS_SELL_FROM_RECOMMENDATIONS
from shared.contracts.analytics import RecommendationsChanged, RecommendedProduct

from .kafka_support import NOON, Stage, a_registration, an_order, envelope


def recommendations(customer_id: str, *skus: str) -> RecommendationsChanged:
    """What analytics publishes when the customer's recommended products change."""
    return RecommendationsChanged(
        customer_id=uuid.UUID(customer_id), rule="recommendations.co_purchase", decided_at=NOON,
        recommendations=[RecommendedProduct(sku=sku, score=3, because_of="SKU-A") for sku in skus])


async def test_an_order_campaign_offers_the_recommended_product_and_suppresses_without_one(stage: Stage) -> None:
    campaign_id = await stage.campaign(action={
        "kind": "offer", "channels": ["email", "sms"], "template": "recommended-for-you",
        "offer": {"from_recommendations": True, "discount_pct": 10}})
    recommended, without = str(uuid.uuid4()), str(uuid.uuid4())
    first = [envelope(a_registration(c)) for c in (recommended, without)]
    first.append(envelope(recommendations(recommended, "SKU-B", "SKU-C")))
    await stage.publish(*first)
    await stage.start_engine()
    await stage.until_applied(*first)  # the list is in the replica before the order triggers the campaign
    orders = [envelope(an_order(c)) for c in (recommended, without)]
    await stage.publish(*orders)
    await stage.until_applied(*orders)
    await stage.stop_engine()

    assert await stage.decisions(campaign_id) == 2
    await stage.drain()
    offers = await stage.campaign_events("OfferSent")
    assert [(r.value["customer_id"], r.value["sku"], r.value["discount_pct"]) for r in offers] == [
        (recommended, "SKU-B", 10)]
    suppressed = await stage.campaign_events("MessageSuppressed")
    assert [(r.value["customer_id"], r.value["reason"]) for r in suppressed] == [(without, "no_recommendation")]
    requests = await stage.message_requests()
    assert [(r.value["customer_id"], r.value["template"], r.value["variables"]["sku"]) for r in requests] == [
        (recommended, "recommended-for-you", "SKU-B")]
    assert requests[0].value["variables"]["offer_code"] == offers[0].value["offer_code"]


async def test_the_ready_made_cross_sell_offers_the_first_recommended_product_without_a_live_offer(
    stage: Stage,
) -> None:
    deposit = await stage.campaign(name="SKU-B after any order", action={
        "kind": "offer", "channels": ["email"], "template": "sku-b", "offer": {"sku": "SKU-B"}})
    cross_sell = await stage.campaign({**CROSS_SELL_FROM_RECOMMENDATIONS, "control_group_pct": 0})
    (customer,) = [str(uuid.uuid4())]
    first = [envelope(a_registration(customer)), envelope(an_order(customer))]
    await stage.publish(*first)
    await stage.start_engine()
    await stage.until_applied(*first)  # SKU-B is now on a live offer for this customer
    changed = envelope(recommendations(customer, "SKU-B", "SKU-C"))
    emptied = envelope(recommendations(customer))
    await stage.publish(changed, emptied)
    await stage.until_applied(changed, emptied)
    await stage.stop_engine()

    assert await stage.decisions(cross_sell) == 1  # the emptied list does not trigger the campaign
    await stage.drain()
    offers = await stage.campaign_events("OfferSent")
    assert sorted((r.value["campaign_id"], r.value["sku"]) for r in offers) == sorted(
        [(deposit, "SKU-B"), (cross_sell, "SKU-C")])
    cross_sell_offer = next(r for r in offers if r.value["campaign_id"] == cross_sell)
    assert cross_sell_offer.value["triggering_event_id"] == str(changed.id)
    requests = await stage.message_requests()
    assert sorted((r.value["campaign_id"], r.value["variables"]["sku"]) for r in requests) == sorted(
        [(deposit, "SKU-B"), (cross_sell, "SKU-C")])
    replica = await stage.pool.fetchval("select recommended_skus from customer_replica where customer_id = $1",
                                        customer)
    assert replica == []  # the latest list replaced the earlier one
