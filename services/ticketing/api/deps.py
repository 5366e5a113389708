"""Annotated dependency aliases for the ticketing routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shared.web import Principal, require

Reader = Annotated[Principal, Depends(require("tickets:read"))]
Writer = Annotated[Principal, Depends(require("tickets:write"))]
SelfReader = Annotated[Principal, Depends(require("tickets:read", allow_self=True))]
SelfWriter = Annotated[Principal, Depends(require("tickets:write", allow_self=True))]
Admin = Annotated[Principal, Depends(require("admin"))]
"""Calendars and their assignment to SLA tiers change every ticket's due moments: an administrator's call."""

