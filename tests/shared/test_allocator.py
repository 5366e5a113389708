"""Relays and workers fix glibc's mmap threshold, so large freed buffers go back to the system."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shared.testing.plugin import REPO_ROOT

# In a fresh interpreter: free a 1 MiB block (which raises glibc's dynamic threshold to 1 MiB unless
# it is fixed), then ask for 900 KiB and report whether glibc served it with its own mmap.
PROBE = """
import ctypes, sys
from shared.ops.allocator import return_large_buffers_to_the_system
if sys.argv[1] == "fixed":
    assert return_large_buffers_to_the_system()
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.free(libc.malloc(1024 * 1024))
before = libc.mallinfo2().hblks
block = libc.malloc(900 * 1024)
print(libc.mallinfo2().hblks - before)
libc.free(block)
"""


def mmapped_blocks_after_reuse(mode: str) -> int:
    # a clean environment: an operator's MALLOC_MMAP_THRESHOLD_ would change what is measured
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                          cwd=REPO_ROOT, env={"PYTHONPATH": str(REPO_ROOT)})
    return int(done.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_a_large_buffer_is_mmapped_again_once_the_threshold_is_fixed() -> None:
    assert mmapped_blocks_after_reuse("glibc-default") == 0  # the heap serves it, and keeps it when freed
    assert mmapped_blocks_after_reuse("fixed") == 1
