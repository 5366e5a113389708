"""Generate a realistic import file (``docs/import.md``): an enterprise's history as NDJSON on stdout.

    python -m demo.export --customers 100000 --seed 7 > history.ndjson
    c360 import history.ndjson

Streaming and constant memory: each customer's records (the customer, their orders with invoices and
payments, tickets, survey answers) are generated and written one customer at a time, references
before the records that name them, so a file of any size is referentially valid. Deterministic for
a seed and ``--as-of``. About ten events per customer once imported (``bench/importer.py`` uses
100,000 customers for the 1,000,000-event onboarding).
"""

from __future__ import annotations

import argparse
import random
import sys
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import IO, Any

import orjson

from demo.catalog import PRODUCTS

FIRST = ("Ayşe", "Mehmet", "Elif", "Can", "Zeynep", "Emre", "Deniz", "Ece", "Burak", "Selin", "Ali", "Defne",
         "Jane", "John", "Maria", "Luca", "Sofia", "Noah", "Emma", "Liam")
LAST = ("Y\u0131lmaz", "Kaya", "Demir", "Şahin", "Çelik", "Öztürk", "Arslan", "Doğan", "Smith", "Rossi", "Müller",
        "García", "Dubois", "Novak", "Jensen")
ZONES = ("Europe/Istanbul", "Europe/Berlin", "Europe/London", "America/New_York", None)
RELATIONSHIPS = ("transactional", "transactional", "transactional", "long_term", "self_service",
                 "personal_assistance", "dedicated_assistance", "automated", "community")
METHODS = ("card", "card", "card", "transfer", "wallet", "direct_debit", "cash")
TICKET_KINDS = ("complaint", "question", "question", "incident", "request")
TICKET_CHANNELS = ("phone", "email", "web", "chat", "social", "store")
ROOT_CAUSES = ("product_defect", "delivery_delay", "billing_error", "wrong_item", "service_failure", "other")
SUBJECTS = {
    "complaint": ("Parcel arrived late", "Item damaged on arrival", "Charged twice", "Wrong item delivered"),
    "question": ("Where is my order?", "How do I change my address?", "Is this compatible with my phone?"),
    "incident": ("Cannot log in", "Payment page fails", "App crashes on checkout"),
    "request": ("Please update my invoice address", "Request a copy of my invoice", "Close my old account"),
}
CENT = Decimal("0.01")


def _ascii(name: str) -> str:
    """A name as the local part of an email: accents dropped, the dotless i an i."""
    plain = unicodedata.normalize("NFKD", name.replace("\u0131", "i"))
    return "".join(c for c in plain if c.isascii())


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def customer_history(rng: random.Random, number: int, *, start: datetime, end: datetime,
                     prefix: str = "") -> Iterator[dict[str, Any]]:
    """Every record of one customer, in an order where each reference points backwards."""
    span = (end - start).total_seconds()
    joined = start + timedelta(seconds=rng.random() * span * 0.8)
    cid = f"{prefix}C{number:08d}"
    first, last = rng.choice(FIRST), rng.choice(LAST)
    record: dict[str, Any] = {
        "kind": "customer", "source_id": cid, "occurred_at": _time(joined),
        "name": f"{first} {last}", "email": f"{_ascii(first)}.{_ascii(last)}.{prefix}{number}@example.com".lower(),
        "relationship_type": rng.choice(RELATIONSHIPS),
        "consents": {"email": rng.random() < 0.7, "sms": rng.random() < 0.3, "push": rng.random() < 0.2,
                     "phone": rng.random() < 0.1},
    }
    zone = rng.choice(ZONES)
    if zone:
        record["timezone"] = zone
    if rng.random() < 0.6:
        record["birth_date"] = (date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 50))).isoformat()
    if rng.random() < 0.3:
        record["acquisition_cost"] = str(Decimal(rng.randrange(500, 15000)) / 100)
    yield record
    remaining = (end - joined).total_seconds()
    orders = min(int(rng.expovariate(1 / 2.0)), 12)
    for o in range(orders):
        placed = joined + timedelta(seconds=rng.random() * remaining)
        oid = f"{cid}-O{o}"
        lines = []
        for product in rng.sample(PRODUCTS, rng.choice((1, 1, 1, 2, 2, 3))):
            lines.append({"sku": product.sku, "name": product.name, "category": product.category,
                          "quantity": rng.choice((1, 1, 1, 2)), "unit_price": str(product.price),
                          "unit_cost": str(product.cost)})
        total = sum((Decimal(str(line["unit_price"])) * int(line["quantity"]) for line in lines),
                    Decimal("0")).quantize(CENT)
        roll = rng.random()
        age = (end - placed).days
        status = ("placed" if age < 2 else "shipped" if age < 5 else
                  "cancelled" if roll < 0.05 else "returned" if roll < 0.08 else "delivered")
        status_at = placed + timedelta(hours=rng.randrange(1, 96))
        order: dict[str, Any] = {"kind": "order", "source_id": oid, "occurred_at": _time(placed),
                                 "customer_source_id": cid, "lines": lines, "status": status,
                                 "payment_method": rng.choice(METHODS)}
        if status != "placed":
            order["status_at"] = _time(min(status_at, end))
        yield order
        if status in ("cancelled",):
            continue
        issued = placed + timedelta(minutes=rng.randrange(5, 55))  # before any status change (>= 1 h)
        due = (issued + timedelta(days=30)).date()
        yield {"kind": "invoice", "source_id": f"{oid}-I", "occurred_at": _time(issued), "order_source_id": oid,
               "amount": str(total), "due_date": due.isoformat()}
        if rng.random() < 0.9:
            paid_at = min(issued + timedelta(days=rng.choice((1, 3, 10, 25, 29, 45))), end)
            if rng.random() < 0.15 and total > 1:
                half = (total / 2).quantize(CENT)
                yield {"kind": "payment", "source_id": f"{oid}-P1", "occurred_at": _time(paid_at),
                       "invoice_source_id": f"{oid}-I", "amount": str(half), "method": order["payment_method"]}
                later = min(paid_at + timedelta(days=rng.randrange(1, 20)), end)
                yield {"kind": "payment", "source_id": f"{oid}-P2", "occurred_at": _time(later),
                       "invoice_source_id": f"{oid}-I", "amount": str(total - half),
                       "method": order["payment_method"]}
            else:
                yield {"kind": "payment", "source_id": f"{oid}-P", "occurred_at": _time(paid_at),
                       "invoice_source_id": f"{oid}-I", "amount": str(total), "method": order["payment_method"]}
    for t in range(1 if rng.random() < 0.25 else 0):
        opened = joined + timedelta(seconds=rng.random() * remaining)
        kind = rng.choice(TICKET_KINDS)
        status = "open" if (end - opened).days < 3 else rng.choice(("resolved", "closed", "closed"))
        ticket: dict[str, Any] = {
            "kind": "ticket", "source_id": f"{cid}-T{t}", "occurred_at": _time(opened), "customer_source_id": cid,
            "ticket_kind": kind, "channel": rng.choice(TICKET_CHANNELS), "subject": rng.choice(SUBJECTS[kind]),
            "description": "Imported from the previous helpdesk.", "priority": rng.choice(("low", "normal", "high")),
            "status": status,
        }
        if status != "open":
            ticket["resolved_at"] = _time(min(opened + timedelta(hours=rng.randrange(1, 120)), end))
            ticket["resolution"] = "Solved with the customer."
            ticket["owner_id"] = f"agent-{rng.randrange(1, 40)}"
            if kind == "complaint":
                ticket["root_cause"] = rng.choice(ROOT_CAUSES)
        yield ticket
    if rng.random() < 0.3:
        answered = joined + timedelta(seconds=rng.random() * remaining)
        survey_kind = "nps" if rng.random() < 0.8 else "csat"
        score = rng.choice(range(0, 11) if survey_kind == "nps" else range(1, 6))
        answer: dict[str, Any] = {"kind": "survey_answer", "source_id": f"{cid}-S", "occurred_at": _time(answered),
                                  "customer_source_id": cid, "survey_kind": survey_kind, "score": score}
        if rng.random() < 0.3:
            answer["comment"] = "Fast delivery, friendly staff." if score >= 7 else "Support took too long."
        yield answer


def export(out: IO[bytes], *, customers: int, seed: int, as_of: datetime, years: float, prefix: str = "") -> int:
    """Write ``customers`` customers' histories as NDJSON; returns the number of records written."""
    rng = random.Random(seed)
    start = as_of - timedelta(days=365 * years)
    written = 0
    for number in range(1, customers + 1):
        lines = [orjson.dumps(r) for r in customer_history(rng, number, start=start, end=as_of, prefix=prefix)]
        out.write(b"\n".join(lines) + b"\n")
        written += len(lines)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1000, help="customers to generate (default 1000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--as-of", type=datetime.fromisoformat, default=None,
                        help="the present the history ends at (RFC 3339; default: today 00:00 UTC)")
    parser.add_argument("--years", type=float, default=3.0, help="years of history (default 3)")
    parser.add_argument("--prefix", default="", help="prefix of every source id (several files, one system)")
    args = parser.parse_args(argv)
    as_of = args.as_of or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if as_of.tzinfo is None:
        parser.error("--as-of needs an offset, e.g. 2026-01-01T00:00:00Z")
    export(sys.stdout.buffer, customers=args.customers, seed=args.seed, as_of=as_of, years=args.years,
           prefix=args.prefix)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
