"""Annotated dependency aliases for the campaigns routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shared.web import Principal, require

Reader = Annotated[Principal, Depends(require("campaigns:read"))]
Writer = Annotated[Principal, Depends(require("campaigns:write"))]

