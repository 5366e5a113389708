"""Reusable input types for request bodies and query parameters: what a client may send, said once.

Every service's ``schemas.py`` and query parameters use these instead of bare ``datetime``, ``date``
or ``Decimal``, so that the OpenAPI document and the server agree exactly on what is accepted:

- ``Instant``: an RFC 3339 date-time WITH a UTC offset (``2030-01-01T10:00:00Z`` or ``+03:00``),
  normalised to UTC. A naive ``2030-01-01T10:00:00`` is a 422: a stored naive time would later be
  published in events whose schema promises ``date-time``, and nobody could tell which zone it meant.
- ``CalendarDate``: exactly ``YYYY-MM-DD``. pydantic's lax ``date`` would take
  ``1990-01-01T00:00:00`` (and a Unix timestamp) and silently truncate it; a date field never does.
- ``MoneyText`` / ``NonNegativeMoneyText`` / ``PositiveMoneyText``: money as a decimal string
  (``"1890.00"``), documented with the very pattern the server checks. A JSON number is refused: a
  float may already have lost a cent before it reached us.

The checks run before pydantic's own parsing (``BeforeValidator``), because pydantic's lax mode is
exactly what lets the wrong shapes through; the JSON Schema is pinned with ``WithJsonSchema`` so the
document states the same rule the validator applies.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

RFC3339_INSTANT: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})"
)
"""An RFC 3339 ``date-time`` (section 5.6) with at most microseconds; the offset is mandatory."""

CALENDAR_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
"""An RFC 3339 ``full-date``: nothing before or after it."""

MONEY_PATTERN: Final = r"^-?(0|[1-9][0-9]{0,15})(\.[0-9]{1,2})?$"
NON_NEGATIVE_MONEY_PATTERN: Final = r"^(0|[1-9][0-9]{0,15})(\.[0-9]{1,2})?$"
POSITIVE_MONEY_PATTERN: Final = r"^([1-9][0-9]{0,15}(\.[0-9]{1,2})?|0\.(0[1-9]|[1-9][0-9]?))$"
"""At most 16 integer digits and 2 decimals (``numeric(18, 2)``); no leading zeros, no exponent."""


CURSOR_PATTERN: Final = r"^[A-Za-z0-9_-]{1,500}={0,2}$"
"""A page cursor: the opaque base64url token a list answered in ``next_cursor`` (only those are valid)."""


def _instant_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and RFC3339_INSTANT.fullmatch(value):
        return value
    raise ValueError("must be an RFC 3339 date-time with a UTC offset, e.g. 2030-01-01T10:00:00Z")


def _in_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a UTC offset, e.g. 2030-01-01T10:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 names an instant before year 1
        raise ValueError("is outside the range of representable instants") from None


def _calendar_date_text(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and CALENDAR_DATE.fullmatch(value):
        return value
    raise ValueError("must be a calendar date YYYY-MM-DD, without a time")


def _money_text(pattern: str, description: str) -> Any:
    compiled = re.compile(pattern)

    def check(value: Any) -> Any:
        if isinstance(value, Decimal):
            return value
        if isinstance(value, str) and compiled.fullmatch(value):
            return value
        raise ValueError(f'must be {description}, written as a decimal string such as "19.99" (not a JSON number)')

    return check


def _money_schema(pattern: str, description: str) -> WithJsonSchema:
    return WithJsonSchema(
        {"type": "string", "pattern": pattern, "description": f"Money: {description} as a decimal string.",
         "examples": ["1890.00"]},
        mode="validation",
    )


Instant = Annotated[
    datetime,
    BeforeValidator(_instant_text),
    AfterValidator(_in_utc),
    WithJsonSchema({"type": "string", "format": "date-time",
                    "description": "RFC 3339 with a UTC offset, e.g. 2030-01-01T10:00:00Z."},
                   mode="validation"),
]
"""An instant the client sends: RFC 3339 with an offset, answered in UTC; naive times are a 422."""

CalendarDate = Annotated[
    date,
    BeforeValidator(_calendar_date_text),
    WithJsonSchema({"type": "string", "format": "date"}, mode="validation"),
]
"""A calendar date the client sends: exactly ``YYYY-MM-DD`` (a datetime string is a 422)."""

MoneyText = Annotated[Decimal, BeforeValidator(_money_text(MONEY_PATTERN, "an amount")),
                      _money_schema(MONEY_PATTERN, "an amount")]
"""Any amount of money as a decimal string (two decimals at most)."""

NonNegativeMoneyText = Annotated[
    Decimal,
    BeforeValidator(_money_text(NON_NEGATIVE_MONEY_PATTERN, "zero or more")),
    _money_schema(NON_NEGATIVE_MONEY_PATTERN, "zero or more"),
]
"""Money that cannot be negative (prices, costs, budgets)."""

PositiveMoneyText = Annotated[
    Decimal,
    BeforeValidator(_money_text(POSITIVE_MONEY_PATTERN, "more than zero")),
    _money_schema(POSITIVE_MONEY_PATTERN, "more than zero"),
]
"""Money that must be more than zero (a payment)."""


def _never_null(schema: dict[str, Any]) -> None:
    """Drop the ``null`` branch pydantic documents for an ``X | None = None`` field."""
    branches = [branch for branch in schema.pop("anyOf", []) if branch.get("type") != "null"]
    if len(branches) == 1:
        schema.update(branches[0])
    elif branches:
        schema["anyOf"] = branches
    schema.pop("default", None)


NEVER_NULL: Final = _never_null
"""``Field(json_schema_extra=NEVER_NULL)`` for a PATCH field that may be left out but never cleared
(``name``, ``email``): the document must not offer ``null`` where the server answers 422 to it."""


NON_BLANK_PATTERN: Final = r"^[^\x00]*[^\s\x00][^\x00]*$"
"""At least one character that is not white space (what a required text is after the server trims it),
and no NUL, which no text may hold (PostgreSQL cannot store it)."""


def _mark_not_blank(schema: dict[str, Any]) -> None:
    if schema.get("type") == "string" and schema.get("minLength", 0) >= 1 and "pattern" not in schema \
            and "enum" not in schema and "format" not in schema:
        schema["pattern"] = NON_BLANK_PATTERN
    for branch in schema.get("anyOf", []):
        _mark_not_blank(branch)


def texts_not_blank(schema: dict[str, Any]) -> None:
    """Model ``json_schema_extra`` for bodies whose texts are trimmed before use (``str_strip_whitespace``
    or the domain's own trimming): a required text of only spaces is refused, so the document says so."""
    for prop in schema.get("properties", {}).values():
        _mark_not_blank(prop)
