"""The allocator tuning a VM's stream gets (glibc only)."""

from __future__ import annotations

import platform
import sys

from acp_bridge import allocator


def test_the_trim_threshold_is_set_once_on_glibc_and_left_alone_elsewhere() -> None:
    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert allocator.tune() is on_glibc
    assert allocator.tune() is on_glibc  # cached: once per process
    assert allocator.tune.cache_info().misses == 1
