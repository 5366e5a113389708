"""The C allocator of long-running relays and workers: large freed buffers go back to the system.

glibc serves a ``malloc`` above its mmap threshold (128 KiB) with its own ``mmap``, returned to the
system on ``free``, but it *raises* that threshold to the size of each such block freed (up to
32 MiB). A Kafka consumer frees megabyte fetch responses all the time, so after a few minutes
those buffers are carved from the heap instead, and the heap keeps the freed space: measured on
the analytics projector over 250,000 events, the glibc heap rose in steps from 85 to 100 MiB
while the memory in use in it fell from 62 to 26 MiB (``malloc_trim`` then gave back 56 MiB).
With the threshold fixed at 128 KiB the heap stayed at 35-42 MiB and the RSS flat, for ~3 s more
system time over the run (an ``mmap``/``munmap`` per large buffer).

Fixing the threshold also stops glibc's automatic adjustment, which is the point. An operator's
``MALLOC_MMAP_THRESHOLD_`` in the environment wins; elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3
"""``mallopt`` parameter number (glibc's malloc.h)."""
MMAP_THRESHOLD_BYTES = 128 * 1024


def return_large_buffers_to_the_system() -> bool:
    """Fix glibc's mmap threshold at 128 KiB for this process; True when it was set here."""
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...)
        return False
    applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    log.debug("malloc mmap threshold fixed", extra={"bytes": MMAP_THRESHOLD_BYTES, "applied": applied})
    return applied
