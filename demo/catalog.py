"""What the demo shop sells: a small catalogue with prices and costs (so margins and CLV are real)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    category: str
    price: Decimal
    cost: Decimal


def _p(sku: str, name: str, category: str, price: str, cost: str) -> Product:
    return Product(sku, name, category, Decimal(price), Decimal(cost))


PRODUCTS: Final = (
    _p("PHN-100", "Smartphone X", "electronics", "1890.00", "1420.00"),
    _p("PHN-CASE", "Phone case", "accessories", "149.90", "38.00"),
    _p("PHN-GLASS", "Screen protector", "accessories", "89.90", "12.00"),
    _p("LAP-200", "Laptop Pro 14", "electronics", "2399.00", "1900.00"),
    _p("LAP-BAG", "Laptop sleeve", "accessories", "229.00", "70.00"),
    _p("MSE-10", "Wireless mouse", "accessories", "199.00", "80.00"),
    _p("TV-55", "55-inch TV", "electronics", "3490.00", "2850.00"),
    _p("SND-BAR", "Soundbar", "electronics", "1290.00", "900.00"),
    _p("HDP-30", "Noise-cancelling headphones", "electronics", "899.00", "560.00"),
    _p("KTL-01", "Electric kettle", "kitchen", "349.00", "180.00"),
    _p("CFE-02", "Coffee beans 1 kg", "kitchen", "279.00", "150.00"),
    _p("CFM-03", "Espresso machine", "kitchen", "2190.00", "1500.00"),
    _p("PAN-04", "Non-stick pan", "kitchen", "459.00", "210.00"),
    _p("TNT-05", "Two-person tent", "outdoor", "1150.00", "700.00"),
    _p("BAG-06", "Hiking backpack", "outdoor", "690.00", "350.00"),
    _p("BTL-07", "Steel water bottle", "outdoor", "129.00", "40.00"),
    _p("BK-08", "Novel, paperback", "books", "89.00", "45.00"),
    _p("BK-09", "Cookbook", "books", "219.00", "110.00"),
    _p("TSH-10", "Cotton T-shirt", "fashion", "199.00", "60.00"),
    _p("JKT-11", "Rain jacket", "fashion", "890.00", "420.00"),
    _p("SHO-12", "Running shoes", "sports", "1190.00", "640.00"),
    _p("YGM-13", "Yoga mat", "sports", "249.00", "90.00"),
    _p("CRM-14", "Face cream", "beauty", "159.00", "50.00"),
    _p("LEG-15", "Building bricks set", "toys", "749.00", "420.00"),
)
"""Prices and costs in TRY; costs make margins (and so CLV and loss-making customers) computable."""
