"""Tuning the runtime for a process that starts fast and then streams.

**Start-up.** Importing pygls, lsprotocol, pydantic and the bridge builds over a hundred
thousand objects, and CPython's cyclic collector, triggered every 700 allocations, ran
about 150 times over an ever larger heap while they were built: about 60 ms of
collections; with it off the imports take 430-480 ms instead of 550-630 ms here. Those
objects live as long as the process, so
:func:`pause_collection` turns the collector off for the imports and
:func:`resume_collection` freezes what they built (``gc.freeze``: later collections do not
traverse it) and turns it back on. The price is the garbage the imports leave, frozen
with the rest: about 9 MiB of peak RSS, where freeing it would cost a 50 ms collection.

**Streaming.** The rest is set once, when the first VM starts or a session is loaded (a
stream of events is coming), so none of it costs the cold start anything. Each was
measured with the throughput benchmark (see ``docs/performance.md``); together they took
the bridge from about 125k to 220k events/s.

* **The cyclic garbage collector.** The hot path allocates a few small containers per event
  (a record tuple, a chunk, its wire entry) that live until the batch of events they belong
  to is written. With CPython's default first-generation threshold (700 allocations) a
  collection ran every couple of hundred events and traversed every one of them, about a
  fifth of the bridge's time. At :data:`GC_THRESHOLD` most of a batch is freed by reference
  counting before a collection sees it. What the process imported and built before its first
  VM is frozen (``gc.freeze``): it lives as long as the process, and later collections no
  longer traverse it.
* **glibc's heap.** A batch's buffers are freed together once it is written; glibc then gave
  the top of its heap back to the OS (more than 128 KiB free) and grew it again for the next
  batch: thousands of ``brk`` calls and page faults per second (about a quarter of the time
  at full speed). Keeping up to :data:`TRIM_THRESHOLD_BYTES` of freed heap for reuse stops
  that; peak memory is unchanged, since what is kept was in use a moment before.
"""

from __future__ import annotations

import functools
import gc
import logging
import sys
from typing import Final

log = logging.getLogger("acp_bridge.tuning")

#: Allocations between two young-generation collections (CPython's default: 700).
GC_THRESHOLD: Final = 10_000
#: Free heap glibc may keep instead of returning it (``M_TRIM_THRESHOLD``).
TRIM_THRESHOLD_BYTES: Final = 16 * 1024 * 1024
_M_TRIM_THRESHOLD: Final = -1  # from glibc's malloc.h


def pause_collection() -> None:
    """Start-up begins: no cyclic collection while the long-lived objects are built."""
    gc.disable()


def resume_collection() -> None:
    """Start-up is over: freeze what it built, collect again from here on."""
    gc.freeze()
    gc.enable()


@functools.cache
def tune() -> bool:
    """Tune the collector and, on glibc, the heap (once per process).

    Returns:
        Whether glibc's trim threshold is set (False elsewhere).
    """
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, middle, old)
    return _set_trim_threshold()


def _set_trim_threshold() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    import ctypes  # here, not at import: only a process that runs a VM needs it

    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        gnu = libc.gnu_get_libc_version  # only glibc's mallopt has these parameters
    except (OSError, AttributeError) as exc:
        log.debug("heap not tuned (not glibc): %s", exc)
        return False
    gnu.restype = ctypes.c_char_p
    done = bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    log.debug("glibc %s: trim threshold %s", gnu().decode(), "set" if done else "refused")
    return done
