"""Tuning the C allocator for a streaming process (glibc only; elsewhere nothing happens).

A stream of VM events makes the bridge allocate many small buffers per read of the VM's
pipe and free them together once the batch is written. glibc gives the top of its heap back
to the OS whenever more than 128 KiB of it is free, so every batch grew the heap again and
shrank it again: thousands of ``brk`` calls and page faults per second, about a quarter of
the bridge's time at full speed (measured in ``docs/performance.md``). Keeping up to
:data:`TRIM_THRESHOLD_BYTES` of freed heap for reuse stops that; peak memory is unchanged,
since what is kept was in use a moment before.
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import Final

log = logging.getLogger("acp_bridge.allocator")

#: Free heap glibc may keep instead of returning it (``M_TRIM_THRESHOLD``).
TRIM_THRESHOLD_BYTES: Final = 16 * 1024 * 1024
_M_TRIM_THRESHOLD: Final = -1  # from glibc's malloc.h


@functools.cache
def tune() -> bool:
    """Set glibc's trim threshold (once per process); return whether it is set."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes  # here, not at import: only a process that runs a VM needs it

    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        gnu = libc.gnu_get_libc_version  # only glibc's mallopt has these parameters
    except (OSError, AttributeError) as exc:
        log.debug("allocator not tuned (not glibc): %s", exc)
        return False
    gnu.restype = ctypes.c_char_p
    done = bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    log.debug("glibc %s: trim threshold %s", gnu().decode(), "set" if done else "refused")
    return done
