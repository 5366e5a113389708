"""``GET /v1/session``: who the bearer token says the caller is, on every service.

It is the one route any valid token may call (no scope): a person whose provider roles map to no
scope still sees their own identity and roles here, and 403 everywhere else; the console shows it as
"signed in as". It reveals nothing beyond what the caller's own token already carries.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from shared.web.auth import Principal, current_principal

SESSION_PATH = "/v1/session"


class SessionView(BaseModel):
    """The verified caller."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"subject": "agent", "issuer": "https://login.example.com/realms/c360",
                 "roles": ["c360-agents"], "scopes": ["customers:read", "tickets:read", "tickets:write"],
                 "customer_id": None}
            ]
        }
    )

    subject: str = Field(description="The token's `sub`: a person, a service client, or a customer.")
    issuer: str = Field(description="The OpenID provider, or empty for a locally minted token.")
    roles: list[str] = Field(description="Provider groups/roles in the token (mapped or not).")
    scopes: list[str] = Field(description="What the token grants here (unmapped roles grant nothing).")
    customer_id: str | None = Field(description="Set for a customer's self-service token.")


def session_router() -> APIRouter:
    """The route every service app includes."""
    router = APIRouter(tags=["session"])

    @router.get(SESSION_PATH, response_model=SessionView)
    async def session(principal: Annotated[Principal, Depends(current_principal)]) -> SessionView:
        """Who is calling and what they may do here (any valid token; no scope needed)."""
        return SessionView(subject=principal.subject, issuer=principal.issuer, roles=sorted(principal.roles),
                           scopes=sorted(principal.scopes), customer_id=principal.customer_id)

    return router
