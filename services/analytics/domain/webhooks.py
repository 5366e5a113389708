"""Outbound webhooks, the pure part: who gets what, how it is signed, when to try again.

Everything here is deterministic and free of I/O so the rules can be tested in milliseconds; the
application layer (``services.analytics.application.webhooks``) brings the database, the clock, the
randomness and the HTTP client. See docs/webhooks.md and docs/adr/0010-webhooks.md.

* **Selection**: a subscription names the event types it wants (or ``*``) and a filter: a list of
  conditions on the event's data, all of which must hold (``{"field": "total", "op": "gte",
  "value": "100"}``). Fields are dotted paths into the event's data; a condition on a field an
  event type does not define does not apply to that type.
* **Personal data**: a subscription not allowed to receive it gets every field the catalog marks
  ``Personal()`` as ``null`` (exactly what a reader sees after an erasure, so the body still
  matches the published schema); its filter is evaluated on that withheld data too, so a filter
  cannot be used to probe a value it may not see.
* **Signing**: Standard Webhooks (https://www.standardwebhooks.com): ``webhook-signature`` is
  ``v1,`` + base64 HMAC-SHA256 over ``{webhook-id}.{webhook-timestamp}.{body}`` with the decoded
  ``whsec_`` secret; during a secret rotation both signatures are sent, space-separated.
* **Retries**: exponential backoff with jitter, up to ``max_attempts``; then the delivery is
  dead-lettered. An endpoint failing ``disable_after`` attempts in a row is disabled.
* **SSRF**: only ``http``/``https`` URLs without credentials; outside local/test environments the
  host may not be (or resolve to) a loopback, private, link-local or otherwise non-global address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import urlsplit

from shared.errors import InvalidInput

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
ALL_TYPES = "*"
MAX_URL_LENGTH = 2000
MAX_CONDITIONS = 20

Operator = Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "contains"]
OPERATORS: tuple[str, ...] = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "contains")
_ORDERED = {"gt", "gte", "lt", "lte"}


# ---------------------------------------------------------------------------------------- secrets


def encode_secret(raw: bytes) -> str:
    """A secret as the subscriber stores it: ``whsec_`` + base64 of the random bytes."""
    if len(raw) < 24:
        raise ValueError("a webhook secret needs at least 24 random bytes")
    return SECRET_PREFIX + base64.b64encode(raw).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a ``whsec_`` secret stands for."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One Standard Webhooks signature: ``v1,<base64 HMAC-SHA256(id.timestamp.body)>``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers; one signature per valid secret (rotation sends two)."""
    if not secrets:
        raise ValueError("at least one secret signs a delivery")
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets),
        "content-type": "application/json",
    }


# ---------------------------------------------------------------------------------------- selection


@dataclass(frozen=True, slots=True)
class Condition:
    """One filter condition on a dotted field path of the event's data."""

    field: str
    op: str
    value: Any = None

    def holds(self, data: Mapping[str, Any]) -> bool:
        found, actual = _lookup(data, self.field)
        if self.op == "exists":
            present = found and actual is not None
            return present if self.value is not False else not present
        if not found:
            return self.op in ("ne", "not_in")
        if self.op == "eq":
            return _same(actual, self.value)
        if self.op == "ne":
            return not _same(actual, self.value)
        if self.op == "in":
            return any(_same(actual, v) for v in self.value)
        if self.op == "not_in":
            return not any(_same(actual, v) for v in self.value)
        if self.op == "contains":
            if isinstance(actual, list):
                return any(_same(item, self.value) for item in actual)
            return isinstance(actual, str) and isinstance(self.value, str) and self.value in actual
        return _compare(actual, self.value, self.op)


def _lookup(data: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    current: Any = data
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return False, None
        current = current[part]
    return True, current


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            parsed = Decimal(value)
        except InvalidOperation:
            return None
        return parsed if parsed.is_finite() else None
    return None


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool | None | list | dict) or isinstance(expected, bool | None | list | dict):
        return bool(actual == expected)
    left, right = _number(actual), _number(expected)
    if left is not None and right is not None:
        return left == right  # money travels as "1890.00": 1890 in a filter means the same amount
    return str(actual) == str(expected)


def _compare(actual: Any, expected: Any, op: str) -> bool:
    left, right = _number(actual), _number(expected)
    if left is None or right is None:
        if isinstance(actual, str) and isinstance(expected, str):  # RFC 3339 instants compare as text
            left_s, right_s = actual, expected
            return {"gt": left_s > right_s, "gte": left_s >= right_s, "lt": left_s < right_s,
                    "lte": left_s <= right_s}[op]
        return False
    return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[op]


def parse_filter(raw: Sequence[Mapping[str, Any]], known_fields: Iterable[str] | None = None) -> tuple[Condition, ...]:
    """Validated conditions; ``InvalidInput`` (422) names the first thing wrong.

    ``known_fields`` (top-level data fields of the wanted event types) makes a typo a 422 instead of
    a filter that silently never matches.
    """
    if len(raw) > MAX_CONDITIONS:
        raise InvalidInput(f"a filter has at most {MAX_CONDITIONS} conditions", field="filter")
    known = set(known_fields) if known_fields is not None else None
    conditions = []
    for index, item in enumerate(raw):
        where = f"filter[{index}]"
        field, op, value = item.get("field"), item.get("op"), item.get("value")
        if not isinstance(field, str) or not field or len(field) > 200:
            raise InvalidInput("a condition names a field (a dotted path of 1 to 200 characters)", field=where)
        if op not in OPERATORS:
            raise InvalidInput(f"op must be one of {', '.join(OPERATORS)}", field=where)
        if known is not None and field.split(".")[0] not in known:
            raise InvalidInput(f"none of the wanted event types has a field {field.split('.')[0]!r}", field=where)
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value or len(value) > 100:
                raise InvalidInput(f"{op} takes a list of 1 to 100 values", field=where)
            if any(isinstance(v, dict | list) for v in value):
                raise InvalidInput(f"{op} takes a list of plain values", field=where)
        elif op == "exists":
            if value is not None and not isinstance(value, bool):
                raise InvalidInput("exists takes true, false or nothing", field=where)
        elif op in _ORDERED:
            if _number(value) is None and not isinstance(value, str):
                raise InvalidInput(f"{op} compares with a number or a text", field=where)
        elif isinstance(value, dict | list):
            raise InvalidInput(f"{op} compares with a plain value", field=where)
        conditions.append(Condition(field, op, value))
    return tuple(conditions)


@dataclass(frozen=True, slots=True)
class Selection:
    """What a subscription wants: event types (``*`` for all) and conditions that must all hold."""

    event_types: frozenset[str]
    conditions: tuple[Condition, ...] = ()

    def wants(self, event_type: str, data: Mapping[str, Any], defined: Iterable[str] | None = None) -> bool:
        """Whether to send this event. A condition on a field the event's type does not define
        (``defined``: its top-level fields) does not apply to it, so one subscription can ask for
        ``OrderPlaced`` with ``total >= 500`` and every ``ComplaintFiled``."""
        if ALL_TYPES not in self.event_types and event_type not in self.event_types:
            return False
        fields = None if defined is None else set(defined)
        return all(c.holds(data) for c in self.conditions
                   if fields is None or c.field.split(".")[0] in fields)


def withhold_personal(data: Mapping[str, Any], personal_fields: Iterable[str]) -> dict[str, Any]:
    """The data with every personal field ``null``: what a subscriber without the right may see."""
    result = dict(data)
    for name in personal_fields:
        if name in result:
            result[name] = None
    return result


def webhook_payload(
    *,
    event_id: str,
    event_type: str,
    version: int,
    source: str,
    subject: str,
    time: str,
    data: Mapping[str, Any],
    personal_data: Literal["included", "withheld"],
) -> dict[str, Any]:
    """The JSON body of a delivery (Standard Webhooks' ``type``/``timestamp``/``data`` plus origin)."""
    return {
        "type": event_type,
        "timestamp": time,
        "event_id": event_id,
        "version": version,
        "source": source,
        "subject": subject,
        "personal_data": personal_data,
        "data": dict(data),
    }


# ---------------------------------------------------------------------------------------- retries


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try again: ``initial`` seconds, times ``factor`` per attempt, at most ``ceiling``.

    With the defaults (30 s, times 4, 6 h, 8 attempts) the attempts after the first come about 30 s,
    2 min, 8 min, 32 min, 2 h 8 min, 6 h and 6 h later: a receiver down for half a day still gets
    everything. ``jitter`` spreads retries by up to that fraction so a recovered endpoint is not hit
    by every waiting delivery in the same second.
    """

    initial: float = 30.0
    factor: float = 4.0
    ceiling: float = 6 * 3600.0
    max_attempts: int = 8
    jitter: float = 0.2

    def delay_after(self, attempts_made: int, random_fraction: float = 0.5) -> float:
        """Seconds to wait after the ``attempts_made``-th failed attempt (``random_fraction`` in [0, 1))."""
        base = min(self.initial * self.factor ** max(attempts_made - 1, 0), self.ceiling)
        spread = base * self.jitter * (2 * random_fraction - 1)
        return max(0.0, base + spread)

    def next_attempt(self, now: datetime, attempts_made: int, random_fraction: float = 0.5) -> datetime | None:
        """When to try again, or ``None`` when the attempts are exhausted (dead-letter it)."""
        if attempts_made >= self.max_attempts:
            return None
        return now + timedelta(seconds=self.delay_after(attempts_made, random_fraction))

    def schedule(self) -> list[float]:
        """The nominal delays between attempts (no jitter), for documentation and tests."""
        return [min(self.initial * self.factor ** n, self.ceiling) for n in range(self.max_attempts - 1)]


def succeeded(status_code: int | None) -> bool:
    """A 2xx answer is a delivery; anything else (3xx included: redirects are not followed) is not."""
    return status_code is not None and 200 <= status_code < 300


def should_disable(consecutive_failures: int, disable_after: int) -> bool:
    """An endpoint failing this many attempts in a row (no success between) is disabled."""
    return disable_after > 0 and consecutive_failures >= disable_after


# ---------------------------------------------------------------------------------------- SSRF


@dataclass(frozen=True, slots=True)
class Target:
    """A checked endpoint URL: its host and whether that host is an address literal."""

    url: str
    host: str
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None


LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def check_url(url: str, *, allow_private: bool) -> Target:
    """The URL if it may be called; ``InvalidInput`` (422) saying why not otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"url is longer than {MAX_URL_LENGTH} characters", field="url")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise InvalidInput("url may not contain spaces or control characters", field="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"url is not a valid URL: {exc}", field="url") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("url must be an http:// or https:// URL", field="url")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("url may not carry credentials; use the signing secret to authenticate", field="url")
    if parts.fragment:
        raise InvalidInput("url may not have a fragment", field="url")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise InvalidInput("url names no host", field="url")
    if port == 0:
        raise InvalidInput("url names port 0", field="url")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
        if not _hostname(host):
            raise InvalidInput("url's host is not a valid host name", field="url") from None
    if not allow_private:
        if host in LOCAL_NAMES or host.endswith(".localhost"):
            raise InvalidInput("url may not point at this machine (localhost)", field="url")
        if address is not None and not address_is_public(address):
            raise InvalidInput("url may not point at a private, loopback or reserved address", field="url")
    return Target(url, host, address)


def _hostname(host: str) -> bool:
    labels = host.split(".")
    return len(host) <= 253 and all(
        0 < len(label) <= 63 and all(c.isalnum() or c == "-" for c in label) and not label.startswith("-")
        for label in labels
    )


def address_is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an endpoint at this address is on the public internet (not ours to protect from it)."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return bool(address.is_global) and not address.is_multicast


def resolved_addresses_allowed(addresses: Iterable[str], *, allow_private: bool) -> bool:
    """Whether every address a host name resolved to may be called (all of them: DNS may rotate)."""
    found = [ipaddress.ip_address(a.split("%")[0]) for a in addresses]
    return bool(found) and (allow_private or all(address_is_public(a) for a in found))
