"""The two query parameters of every list route, said once so every service pages the same way.

A list answers at most ``limit`` items and a ``next_cursor``; the client passes that cursor back to get
the next page. The cursor is opaque (base64url), so its pattern is all a client may rely on.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from shared.web.types import CURSOR_PATTERN

Limit = Annotated[int, Query(ge=1, le=200, description="Page size.")]
Cursor = Annotated[
    str | None,
    Query(max_length=500, pattern=CURSOR_PATTERN,
          description="The next_cursor of the previous page (an opaque token; start without it)."),
]
