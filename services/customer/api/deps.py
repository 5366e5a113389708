"""Annotated dependency aliases for the customer routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shared.web import Principal, require
from shared.web.auth import PRIVACY_MANAGE

Reader = Annotated[Principal, Depends(require("customers:read"))]
Writer = Annotated[Principal, Depends(require("customers:write"))]
SelfReader = Annotated[Principal, Depends(require("customers:read", allow_self=True))]
SelfWriter = Annotated[Principal, Depends(require("customers:write", allow_self=True))]
OrderWriter = Annotated[Principal, Depends(require("orders:write"))]
SelfOrderWriter = Annotated[Principal, Depends(require("orders:write", allow_self=True))]
Admin = Annotated[Principal, Depends(require("admin"))]
PrivacyOfficer = Annotated[Principal, Depends(require(PRIVACY_MANAGE))]
"""Erasure and its acknowledgements: a data-protection officer (``privacy:manage``; ``admin`` has it)."""
ExportRequester = Annotated[Principal, Depends(require(PRIVACY_MANAGE, allow_self=True))]
"""Right of access: a data-protection officer (``privacy:manage``) or the customer themself (self-service)."""
SelfOnly = Annotated[Principal, Depends(require("self", allow_self=True))]

