"""Annotated dependency aliases for the ticketing routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from shared.web import Principal, require
from shared.web.types import CURSOR_PATTERN

Reader = Annotated[Principal, Depends(require("tickets:read"))]
Writer = Annotated[Principal, Depends(require("tickets:write"))]
SelfReader = Annotated[Principal, Depends(require("tickets:read", allow_self=True))]
SelfWriter = Annotated[Principal, Depends(require("tickets:write", allow_self=True))]
Admin = Annotated[Principal, Depends(require("admin"))]
"""Calendars and their assignment to SLA tiers change every ticket's due moments: an administrator's call."""

Limit = Annotated[int, Query(ge=1, le=200, description="Page size.")]
Cursor = Annotated[
    str | None,
    Query(max_length=500, pattern=CURSOR_PATTERN,
          description="The next_cursor of the previous page (an opaque token; start without it)."),
]
