"""``Instant``: the type of every point in time an event carries.

An instant on the wire is RFC 3339 with a UTC offset (the schemas say ``format: date-time``, which a
validator only accepts with an offset). A naive ``datetime`` has no offset, so an event holding one
would publish ``"2030-01-01T10:00:00"`` and break its own schema. The platform's clocks are UTC and
its database columns ``timestamptz`` read in UTC, so a naive value can only mean UTC: the model makes
that explicit instead of publishing it ambiguous. Events stored naive before this type existed load
the same way. APIs still refuse naive input (422): this is the contract's last line, not input
validation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def _with_offset(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None or value.utcoffset() is None else value


Instant = Annotated[datetime, AfterValidator(_with_offset)]
"""A ``datetime`` that always carries an offset (naive values are taken as UTC)."""

__all__ = ["Instant"]
