"""A realistic event payload for benchmarks (order-sized), in a catalog of its own."""

from __future__ import annotations

from decimal import Decimal

from shared.events.catalog import Catalog, DomainEvent, Money

BENCH_CATALOG = Catalog()


@BENCH_CATALOG.register
class BenchOrderPlaced(DomainEvent):
    event_type = "BenchOrderPlaced"
    domain = "bench"

    customer_id: str
    order_id: str
    sku: str = "SKU-000123"
    category: str = "electronics"
    quantity: int = 2
    total: Money = Decimal("1890.00")
    channel: str = "web"
    currency: str = "EUR"


def an_order(customer: str, n: int) -> BenchOrderPlaced:
    return BenchOrderPlaced(customer_id=customer, order_id=f"{customer}-{n}")
