"""``shared.privacy.export``: what a coverage declaration misses, and how stored values read as JSON."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from shared.privacy.export import Coverage, json_value, part

COVERAGE = Coverage(exported={"orders": "orders", "tickets": "tickets"},
                    not_personal={"import_ledger": "source ids only"})


def test_a_table_in_neither_list_is_missing() -> None:
    assert COVERAGE.missing({"orders", "tickets", "import_ledger"}) == []
    assert COVERAGE.missing({"orders", "loyalty_points", "addresses"}) == ["addresses", "loyalty_points"]


def test_a_part_states_its_coverage_and_refuses_a_section_it_lacks() -> None:
    now = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)
    built = part("ticketing", COVERAGE, {"orders": [], "tickets": []}, now=now)
    assert built["tables"] == {"orders": "orders", "tickets": "tickets"}
    assert built["not_personal"] == {"import_ledger": "source ids only"}
    with pytest.raises(AssertionError, match="tickets"):
        part("ticketing", COVERAGE, {"orders": []}, now=now)


def test_stored_values_read_as_json() -> None:
    key = uuid.UUID("0190a4a6-0000-7000-8000-000000000001")
    value = {"id": key, "total": Decimal("39.90"), "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
             "due": date(2026, 2, 1), "raw": b"\x00\x01", "tags": ("a", "b")}
    assert json_value(value) == {"id": str(key), "total": "39.90", "at": "2026-01-02T03:04:05.000000Z",
                                 "due": "2026-02-01", "raw": "AAE=", "tags": ["a", "b"]}
