"""The runtime tuning a VM's stream gets: the collector everywhere, the heap on glibc."""

from __future__ import annotations

import gc
import platform
import sys

from acp_bridge import tuning


def test_tuning_happens_once_and_sets_the_heap_only_on_glibc() -> None:
    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    threshold = gc.get_threshold()
    try:
        assert tuning.tune() is on_glibc
        assert tuning.tune() is on_glibc  # cached: once per process
        assert tuning.tune.cache_info().misses == 1
        assert gc.get_threshold()[0] == tuning.GC_THRESHOLD
        assert gc.get_freeze_count() > 0
    finally:  # this test process is not a bridge: give it its collector back
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_start_up_runs_without_the_collector_and_freezes_what_it_built() -> None:
    assert gc.isenabled()
    try:
        tuning.pause_collection()
        assert not gc.isenabled()
        built: list[list[int]] = [[] for _ in range(1000)]  # long-lived start-up objects
        tuning.resume_collection()
        assert gc.isenabled()
        assert gc.get_freeze_count() >= len(built)
    finally:
        gc.unfreeze()
        gc.enable()
