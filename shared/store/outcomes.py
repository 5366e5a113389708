"""What a use case reports back: the resource as it now reads and what happened to it.

Use cases speak the application's language (a customer was created, an order changed, an export was
accepted); ``api/`` turns an outcome into HTTP (status, ``ETag`` from ``version``, ``Location`` from
``resource_id``, the JSON body) with ``shared.web.responses.answer``. So a handler runs in a unit
test against in-memory ports and its outcome is asserted directly, with no HTTP in sight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class _Answered:
    """An outcome the client sees a body for: every one but ``Deleted``."""

    resource: Any
    """What the API answers with (the resource as it now reads, or a description of queued work)."""


@dataclass(frozen=True, slots=True)
class Updated(_Answered):
    """The command applied (or found nothing to change); ``resource`` is the resource as it now reads."""

    version: int | None = None
    """The resource's stream version (the API shows it as the ``ETag``); ``None`` when it has none."""


@dataclass(frozen=True, slots=True)
class Created(_Answered):
    """A new resource came to be; ``resource_id`` names it (the API's ``Location``)."""

    resource_id: str
    version: int | None = None


@dataclass(frozen=True, slots=True)
class Accepted(_Answered):
    """The work was queued, not done; ``resource`` describes it, ``resource_id`` names where to follow it."""

    resource_id: str | None = None


@dataclass(frozen=True, slots=True)
class Deleted:
    """The resource is gone (or never was: deleting twice is the same outcome)."""


Outcome = Updated | Created | Accepted | Deleted
"""Every outcome a command handler returns."""
