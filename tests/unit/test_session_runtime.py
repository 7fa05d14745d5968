"""A live session: the background fsync, and session-level events before and after its answer."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import orjson
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


def test_what_a_vm_says_of_its_session_before_the_answer_follows_the_answer(
    tmp_path: Path,
) -> None:
    """A session-mode VM may print session-level events before ``session/new`` is answered.

    Nothing of them is queued then; the state made with the answer holds them; from then
    on they go out as they come, between turns too.
    """
    counters = Counters()
    log = JsonlEventLog(tmp_path, "s1", counters=counters, fsync=FsyncPolicy(mode="never"))
    outbox = Outbox(1 << 20)
    runtime = SessionRuntime(
        SessionCore("s1", str(tmp_path), TranslatorOptions()), log, outbox, counters, []
    )
    early = [
        b'{"type":"available_commands","session_id":"s1","commands":[{"name":"a","description":"A"}]}',
        b'{"type":"usage","session_id":"s1","used":1,"size":2}',
    ]
    later = [b'{"type":"session_info","session_id":"s1","title":"T"}']

    async def main() -> None:
        await runtime.ingest(early, 0, 1)
        assert outbox.empty
        state = runtime.session_state([])
        kinds = [orjson.loads(line)["params"]["update"]["sessionUpdate"] for line in state]
        assert kinds == ["available_commands_update", "usage_update"]
        await runtime.ingest(later, 0, 3)
        assert not outbox.empty

    anyio.run(main)
    assert counters.vm_events_outside_turn == 0
    log.close()
