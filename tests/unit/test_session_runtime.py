"""The server's background fsync: requested by the log, run in a worker thread."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from acp_bridge.acp.stdio import Outbox
from acp_bridge.core.session import SessionCore
from acp_bridge.core.translate import TranslatorOptions
from acp_bridge.counters import Counters
from acp_bridge.eventlog.rotation import FsyncPolicy
from acp_bridge.eventlog.writer import JsonlEventLog
from acp_bridge.session_runtime import SessionRuntime


class CountingLog(JsonlEventLog):
    """A real log that remembers which threads synced what."""

    ended: list[tuple[int, OSError | None]]

    def end_sync(self, handle: int, error: OSError | None) -> None:
        self.ended.append((handle, error))
        super().end_sync(handle, error)


def test_a_due_fsync_runs_off_the_event_loop_and_is_finished_by_the_log(tmp_path: Path) -> None:
    counters = Counters()
    log = CountingLog(
        tmp_path,
        "s1",
        counters=counters,
        fsync=FsyncPolicy(mode="interval", every_records=2, every_seconds=60.0),
        background_sync=True,
    )
    log.ended = []
    runtime = SessionRuntime(
        SessionCore("s1", str(tmp_path), TranslatorOptions()),
        log,
        Outbox(1 << 20),
        counters,
        [],
    )
    lines: list[bytes] = [b'{"type":"turn_start","session_id":"s1"}'] * 3

    async def main() -> None:
        assert await runtime.ingest(lines, 0, 1) == (3, None)
        assert log.sync_wanted  # no server in this test to spawn it: run it by hand
        await runtime.sync_log()

    anyio.run(main)
    [(handle, error)] = log.ended
    assert error is None
    assert not runtime.syncing
    assert not log.sync_wanted
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(handle)  # the duplicate is closed
    assert counters.eventlog_write_failures == 0
    log.close()
