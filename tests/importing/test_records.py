"""The import format: every kind of bad row is refused with a reason, and the published schemas match."""

from __future__ import annotations

from typing import Any
from uuid import uuid5

import orjson
import pytest

from shared.importing.ledger import IMPORT_NAMESPACE, entity_id
from shared.importing.records import Numbered, Reject, parse_line, parse_record
from shared.importing.schema import generated_files

from .builders import a_customer_row, a_payment_row, a_survey_row, a_ticket_row, an_order_row


def _parse(row: dict[str, Any] | bytes) -> Numbered | Reject | None:
    raw = row if isinstance(row, bytes) else orjson.dumps(row)
    return parse_line(raw, file="f.ndjson", line=7)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"kind": "lead", "source_id": "x", "occurred_at": "2020-01-01T00:00:00Z"}, "unknown kind 'lead'"),
        ({k: v for k, v in a_customer_row("c1").items() if k != "email"}, "email: is required"),
        (a_customer_row("c1", occurred_at="2020-01-01T10:00:00"), "a time needs an offset"),
        (a_payment_row("p1", "i1", amount="0.00"), "amount: Input should be greater than 0"),
        (a_payment_row("p1", "i1", amount="-5"), "amount: Input should be greater than 0"),
        (a_payment_row("p1", "i1", amount=12.5), "money must be a decimal string"),
        (an_order_row("o1", "c1", status="lost"), "status: Input should be"),
        (an_order_row("o1", "c1", lines=[]), "lines: List should have at least 1 item"),
        (a_ticket_row("t1", "c1", resolved_at="2020-02-04T00:00:00Z"), "an open ticket has no resolution time"),
        (a_survey_row("s1", "c1", survey_kind="csat", score=9), "a csat score must be between 1 and 5"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "a record must be a JSON object"),
    ],
)
def test_a_bad_row_is_refused_with_its_line_and_reason(row: dict[str, Any] | bytes, reason: str) -> None:
    parsed = _parse(row)
    assert isinstance(parsed, Reject)
    assert parsed.line == 7 and parsed.file == "f.ndjson"
    assert reason in parsed.reason


def test_a_good_row_keeps_its_offset_time_and_money_exactly() -> None:
    parsed = _parse(a_payment_row("p1", "i1", amount="1890.10", occurred_at="2019-05-20T10:00:00+03:00"))
    assert isinstance(parsed, Numbered)
    assert str(parsed.record.amount) == "1890.10"
    assert parsed.record.occurred_at.utcoffset().total_seconds() == 3 * 3600


def test_blank_lines_are_skipped() -> None:
    assert _parse(b"   \n") is None


def test_the_committed_json_schemas_are_generated_from_the_models() -> None:
    stale = [str(path) for path, content in generated_files().items()
             if not path.exists() or path.read_bytes() != content]
    assert stale == [], "run: python -m shared.importing.schema"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"kind": "customer", "source_id": "c1", "weight": -15905177961602968856014373257216}, "occurred_at"),
        ({"kind": "customer", "source_id": "\ud9e8", "email": "a@example.com"}, "occurred_at"),
        (["not", "an", "object"], "a record must be a JSON object"),
    ],
)
def test_an_already_decoded_batch_row_that_orjson_cannot_write_is_refused_not_crashed(
    value: Any, reason: str
) -> None:
    """The batch endpoint validates decoded rows: values JSON allows (huge integers, lone surrogates)
    but orjson cannot encode once made it answer 500."""
    from shared.importing.http import batch_records
    from shared.importing.remote import BatchRequest, BatchRow

    body = BatchRequest(rows=[BatchRow(file="f.ndjson", line=3, record=value)] if isinstance(value, dict)
                        else [])
    good, bad = batch_records(body, ("customer",))
    assert good == [] and len(bad) == (1 if isinstance(value, dict) else 0)
    direct = parse_record(value, file="f.ndjson", line=3)
    assert isinstance(direct, Reject) and reason in direct.reason


@pytest.mark.parametrize(("kind", "source_id"), [("order", "ORD-1"), ("customer", ""), ("ticket", "Ayşe/東京 #7"),
                                                 ("survey_answer", "x" * 200)])
def test_an_imported_entity_id_is_the_uuid5_of_its_kind_and_source_id(kind: str, source_id: str) -> None:
    """Ids already in ledgers and event stores were made by uuid5: a re-run must find the same ones."""
    assert entity_id(kind, source_id) == uuid5(IMPORT_NAMESPACE, f"{kind}:{source_id}")
    assert entity_id(kind, source_id).version == 5
