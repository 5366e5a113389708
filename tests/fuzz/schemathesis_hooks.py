"""What a well-behaved client does that a JSON Schema cannot say, for ``schemathesis run`` in tests/fuzz.

Loaded through ``hooks`` in ``tests/fuzz/schemathesis.toml``. Each rule below is documented on the
operations it concerns and is about the relation between values or the client's own duties, which
JSON Schema has no words for. Only schema-valid (positive) requests are touched, and only in the way
a correct client would send them; everything else schemathesis generates is sent as generated.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import schemathesis


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    _fresh_idempotency_key(case.headers)
    _no_invented_cursor(case.query)
    _range_in_order(case.query)
    _first_response_within_resolution(case.body)
    _phones_that_exist(case.body, case.query)
    _dates_on_the_right_side_of_today(case.body)


def _fresh_idempotency_key(headers: dict[str, Any] | None) -> None:
    """A client sends a new key for each new request (IETF idempotency-key draft, section 2); a key
    reused with another request is answered 422, which is right, and random generation reuses keys."""
    if headers and "Idempotency-Key" in headers:
        headers["Idempotency-Key"] = str(uuid4())


def _no_invented_cursor(query: dict[str, Any] | None) -> None:
    """A cursor is opaque: only a ``next_cursor`` the list answered is valid (422 otherwise)."""
    if query and "cursor" in query:
        del query["cursor"]


def _range_in_order(query: dict[str, Any] | None) -> None:
    """KPI ranges: ``to`` is after ``from`` and at most 3,660 days later (documented on ``to``)."""
    if not query or not isinstance(query.get("from"), str) or not isinstance(query.get("to"), str):
        return
    try:
        start = datetime.fromisoformat(query["from"].replace("z", "Z"))
        end = datetime.fromisoformat(query["to"].replace("z", "Z"))
        start, end = min(start, end), max(start, end)
        if end == start or (end - start).days > 3660:
            end = start + timedelta(days=1) if start.year < 9999 else start
            start = start if end > start else start - timedelta(days=1)
        query["from"], query["to"] = start.isoformat(), end.isoformat()
    except (ValueError, OverflowError):
        return


def _first_response_within_resolution(body: Any) -> None:
    """SLA targets: a first response cannot be due after the resolution (documented on SLA policies)."""
    if isinstance(body, dict):
        if {"first_response_minutes", "resolution_minutes"} <= body.keys():
            first, resolution = body["first_response_minutes"], body["resolution_minutes"]
            if isinstance(first, int | float) and isinstance(resolution, int | float) and first > resolution:
                body["first_response_minutes"], body["resolution_minutes"] = resolution, first
        for value in body.values():
            _first_response_within_resolution(value)
    elif isinstance(body, list):
        for value in body:
            _first_response_within_resolution(value)


VALID_PHONE = "+90 555 {:03d} {:02d} {:02d}"


def _phones_that_exist(body: Any, query: dict[str, Any] | None) -> None:
    """Phones: a number that exists in its country's numbering plan (documented on ``phone``); the
    plan is data (libphonenumber), not a pattern. Each request gets its own number."""
    serial = uuid4().int
    number = VALID_PHONE.format(serial % 1000, serial // 1000 % 100, serial // 100000 % 100)
    if isinstance(body, dict) and isinstance(body.get("phone"), str) and body["phone"].strip():
        body["phone"] = number
    if query and isinstance(query.get("phone"), str):
        query["phone"] = number


def _dates_on_the_right_side_of_today(body: Any) -> None:
    """A birth date is not in the future, a promised delivery date not in the past (documented on the
    fields). Today moves, so without this the same seed would pass on one day and fail on another."""
    if not isinstance(body, dict):
        return
    today = datetime.now(UTC).date()
    for field, wrong_side, fallback in (("birth_date", lambda d: d > today, today - timedelta(days=365 * 30)),
                                        ("promised_delivery_date", lambda d: d < today, today + timedelta(days=7))):
        value = body.get(field)
        if isinstance(value, str):
            try:
                if wrong_side(date.fromisoformat(value)):
                    body[field] = fallback.isoformat()
            except ValueError:
                continue
