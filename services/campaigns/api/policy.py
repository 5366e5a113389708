"""The marketing policy over HTTP: ``GET``/``PUT /v1/marketing-policy`` and the holiday ``.ics`` import.

Its own module (request/answer models and routes together) because the policy is one small resource
beside the campaigns: reading it needs ``campaigns:read`` (a marketer sees the limits their campaigns
meet); changing it is ``admin`` (it guards every customer from over-messaging). See
``docs/marketing-policy.md``.
"""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from services.campaigns.api.deps import Reader
from services.campaigns.application import policy as handlers
from services.campaigns.config import CampaignsSettings
from services.campaigns.domain.policy import (
    MAX_BLACKOUTS,
    MAX_CAPS,
    MAX_HOLD_DAYS,
    MAX_MESSAGES,
    MAX_OVERRIDES,
    MAX_WINDOW_DAYS,
    blackout_days,
)
from shared.contracts.campaigns import (
    CampaignPolicyOverride,
    Channel,
    FrequencyCap,
    MarketingPolicyRules,
    QuietHours,
    SendBlackout,
)
from shared.errors import InvalidInput, PlatformError
from shared.ics import IcsError, parse_holidays
from shared.web import IfMatch, Principal, require
from shared.web.app import app_settings
from shared.web.responses import run_and_respond

router = APIRouter(prefix="/v1", tags=["marketing policy"])

Admin = Annotated[Principal, Depends(require("admin"))]

CLOCK_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
ICS_TYPE = "text/calendar"
ICS_HORIZON_YEARS = 3
"""A yearly holiday without an end is imported for this many years ahead."""

Clock = Annotated[str, Field(pattern=CLOCK_PATTERN, examples=["21:00"], description="HH:MM, 24-hour clock.")]


class CapInput(BaseModel):
    """At most ``max_messages`` promotional messages in any ``window_days`` days, on ``channel`` (null: all)."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel | None = Field(default=None, description="null counts every channel together.")
    max_messages: StrictInt = Field(ge=0, le=MAX_MESSAGES, description="0 allows none on this channel.")
    window_days: StrictInt = Field(ge=1, le=MAX_WINDOW_DAYS)

    def rule(self) -> FrequencyCap:
        return FrequencyCap(channel=self.channel, max_messages=self.max_messages, window_days=self.window_days)


class QuietHoursInput(BaseModel):
    """No message from ``start`` to ``end`` in the customer's time zone (spans midnight when start > end)."""

    model_config = ConfigDict(extra="forbid")

    start: Clock
    end: Clock

    def rule(self) -> QuietHours:
        return QuietHours(start=time.fromisoformat(self.start), end=time.fromisoformat(self.end))


class BlackoutInput(BaseModel):
    """A holiday: nothing is sent that day in the customer's time zone."""

    model_config = ConfigDict(extra="forbid")

    day: date = Field(examples=["2026-12-31"])
    name: Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")] | None = None

    @field_validator("day", mode="before")
    @classmethod
    def _a_date_text(cls, value: Any) -> Any:
        # pydantic's lax date also takes a number (seconds since 1970); the document says YYYY-MM-DD.
        if not isinstance(value, str):
            raise ValueError("day is a date, YYYY-MM-DD")
        return value

    def rule(self) -> SendBlackout:
        return SendBlackout(day=self.day, name=self.name)


class OverrideInput(BaseModel):
    """A campaign's stricter rules: more caps, and quiet hours covering the global ones."""

    model_config = ConfigDict(extra="forbid")

    campaign_id: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")]
    caps: list[CapInput] = Field(default_factory=list, max_length=MAX_CAPS)
    quiet_hours: QuietHoursInput | None = None

    def rule(self) -> CampaignPolicyOverride:
        return CampaignPolicyOverride(campaign_id=self.campaign_id.lower(), caps=[c.rule() for c in self.caps],
                                      quiet_hours=self.quiet_hours.rule() if self.quiet_hours else None)


class MarketingPolicyUpdate(BaseModel):
    """The whole marketing policy (PUT replaces it; ``blackouts`` and ``overrides`` default to none).

    Checked as a whole beyond the schema (422 naming the field, nothing changed): two caps for the same
    channel and window; quiet hours with start = end (send null for none) or leaving less than an hour a
    day; a blackout day listed twice or more than 31 in a row; two overrides of one campaign, an override
    of a campaign that does not exist, or one looser than the global rules (a cap allowing more than the
    global caps ever let through, quiet hours not covering the global ones).
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "caps": [{"channel": None, "max_messages": 3, "window_days": 7},
                 {"channel": "sms", "max_messages": 1, "window_days": 1}],
        "quiet_hours": {"start": "21:00", "end": "08:00"},
        "blackouts": [{"day": "2026-12-31", "name": "New Year's Eve"}],
        "complaint_hold": True, "sla_breach_hold_days": 7, "detractor_hold_days": 30, "overrides": []}]})

    caps: list[CapInput] = Field(max_length=MAX_CAPS)
    quiet_hours: QuietHoursInput | None
    blackouts: list[BlackoutInput] = Field(default_factory=list, max_length=MAX_BLACKOUTS)
    complaint_hold: StrictBool
    sla_breach_hold_days: StrictInt = Field(ge=0, le=MAX_HOLD_DAYS)
    detractor_hold_days: StrictInt = Field(ge=0, le=MAX_HOLD_DAYS)
    overrides: list[OverrideInput] = Field(default_factory=list, max_length=MAX_OVERRIDES)

    def rules(self) -> MarketingPolicyRules:
        return MarketingPolicyRules(
            caps=[c.rule() for c in self.caps], quiet_hours=self.quiet_hours.rule() if self.quiet_hours else None,
            blackouts=[b.rule() for b in self.blackouts], complaint_hold=self.complaint_hold,
            sla_breach_hold_days=self.sla_breach_hold_days, detractor_hold_days=self.detractor_hold_days,
            overrides=[o.rule() for o in self.overrides])


class CapRead(BaseModel):
    channel: Channel | None
    max_messages: int
    window_days: int


class QuietHoursRead(BaseModel):
    start: str = Field(description="HH:MM:SS")
    end: str = Field(description="HH:MM:SS")


class BlackoutRead(BaseModel):
    day: date
    name: str | None


class OverrideRead(BaseModel):
    campaign_id: str
    caps: list[CapRead]
    quiet_hours: QuietHoursRead | None


class MarketingPolicyRead(BaseModel):
    """The current marketing policy; ``version`` is the ETag (0: the deployment's defaults, never changed)."""

    caps: list[CapRead]
    quiet_hours: QuietHoursRead | None
    blackouts: list[BlackoutRead]
    complaint_hold: bool
    sla_breach_hold_days: int
    detractor_hold_days: int
    overrides: list[OverrideRead]
    version: int
    changed_by: str | None
    changed_at: str | None = Field(description="RFC 3339 UTC; null before the first change.")


ICS_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An iCalendar (RFC 5545) file of holidays, e.g. a public-holiday feed exported from a "
                       "calendar tool.",
        "content": {ICS_TYPE: {"schema": {"type": "string", "minLength": 1, "pattern": r"BEGIN:VCALENDAR"}}},
    },
}


class UnsupportedMediaType(PlatformError):
    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"


def _defaults(request: Request) -> MarketingPolicyRules:
    return app_settings(request.app, CampaignsSettings).policy_rules()


@router.get("/marketing-policy", response_model=MarketingPolicyRead)
async def marketing_policy(request: Request, principal: Reader) -> Response:
    """The current marketing policy: caps, quiet hours, blackouts, holds, overrides (ETag = version)."""
    async with request.app.state.pool.acquire() as conn:
        policy = await handlers.load_policy(conn, request.app.state.store, _defaults(request))
    body = handlers.policy_body(policy)
    return JSONResponse(body, headers={"ETag": f'"{policy.version}"'})


@router.put("/marketing-policy", response_model=MarketingPolicyRead)
async def replace_marketing_policy(body: MarketingPolicyUpdate, request: Request, principal: Admin,
                                   expected: IfMatch) -> Response:
    """Replace the marketing policy, recorded as a MarketingPolicyChanged event; the next decision uses it.

    Checked as a whole beyond the schema (422 naming the field, nothing changed): two caps for the same
    channel and window; quiet hours with start = end (send null for none) or leaving less than an hour a
    day; a blackout day listed twice or more than 31 in a row; two overrides of one campaign, an override
    of a campaign that does not exist, or one looser than the global rules (a cap allowing more than the
    global caps ever let through, quiet hours not covering the global ones). The same policy again
    changes nothing (same version).
    """
    now = request.app.state.clock.now()
    rules = body.rules()
    defaults = _defaults(request)
    return await run_and_respond(request, lambda uow: handlers.replace_policy(
        uow, defaults=defaults, rules=rules, by=principal.subject, now=now, expected_version=expected))


@router.post("/marketing-policy/blackouts/ics", response_model=MarketingPolicyRead, openapi_extra=ICS_REQUEST_BODY)
async def import_blackouts(request: Request, principal: Admin, expected: IfMatch) -> Response:
    """Add the holidays of an iCalendar (.ics) file to the blackout days (from today on).

    Days already listed keep their name; past days are skipped; a yearly holiday without an end is
    taken for three years. 415 for another content type; 422 for a file that is not a holiday
    calendar, or when the days added would break the policy's rules (e.g. more than 31 in a row).
    """
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != ICS_TYPE:
        raise UnsupportedMediaType(f"send the file as {ICS_TYPE}")
    now = request.app.state.clock.now()
    today = now.date()
    try:
        holidays = parse_holidays(await request.body(), until=today + timedelta(days=366 * ICS_HORIZON_YEARS))
    except IcsError as exc:
        raise InvalidInput(str(exc), field="body") from None
    days = blackout_days((h.day, h.name.replace("\x00", "")[:200] or None) for h in holidays if h.day >= today)
    defaults = _defaults(request)
    return await run_and_respond(request, lambda uow: handlers.import_blackouts(
        uow, defaults=defaults, blackouts=days, by=principal.subject, now=now, expected_version=expected))
