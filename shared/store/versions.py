"""Optimistic concurrency: a writer names the version it read, and a stale one is refused.

The client's expected version arrives over HTTP as ``If-Match`` (``shared.web.etag`` parses it);
the check itself is the application's, so it lives beside the event store and raises a
``PreconditionFailed`` (412) that tells the current version (the web kit shows it as the ETag).
"""

from __future__ import annotations

from shared.errors import PreconditionFailed


def ensure_version_matches(expected: int | None, current: int) -> None:
    """Raise ``PreconditionFailed`` when ``expected`` (the client's version) is not ``current``."""
    if expected is not None and expected != current:
        raise PreconditionFailed(
            f"The resource is at version {current}, not {expected}; fetch it again and retry.",
            current_version=current,
        )
