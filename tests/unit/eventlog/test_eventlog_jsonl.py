"""``JsonlEventLog`` on disk: rotation, resume, torn tails, write failures, modes, fsync."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import stat
from typing import TYPE_CHECKING, Any, Protocol

import orjson
import pytest
from support.eventlog_helpers import iter_session_records

from acp_bridge.errors import EventLogError, EventLogInUseError
from acp_bridge.eventlog.locking import session_in_use
from acp_bridge.eventlog.naming import log_name_for, segment_file_name
from acp_bridge.eventlog.reader import segment_paths
from acp_bridge.eventlog.records import LogRecord, decode_record, encode_record
from acp_bridge.eventlog.rotation import FsyncPolicy, RotationPolicy
from acp_bridge.eventlog.writer import JsonlEventLog

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from acp_bridge.counters import Counters

SESSION = "sess-1"
NEVER = FsyncPolicy(mode="never")
# Every test event encodes to the same length while indices stay below 10.
LINE_BYTES = len(encode_record(0, 1, None, {"type": "e"}))


class OpenLog(Protocol):
    def __call__(self, session_id: str = SESSION, **kwargs: Any) -> JsonlEventLog: ...


@pytest.fixture
def open_log(log_dir: Path, counters: Counters) -> OpenLog:
    def open_(session_id: str = SESSION, **kwargs: Any) -> JsonlEventLog:
        kwargs.setdefault("fsync", NEVER)
        kwargs.setdefault("clock_ms", lambda: 1)
        return JsonlEventLog(log_dir, session_id, counters=counters, **kwargs)

    return open_


def seg(log_dir: Path, segment: int, session_id: str = SESSION) -> Path:
    return log_dir / segment_file_name(log_name_for(session_id), segment)


def indices(path: Path) -> list[int | None]:
    return [decode_record(line).index for line in path.read_bytes().splitlines()]


def append_n(log: JsonlEventLog, n: int) -> list[int | None]:
    return [log.append({"type": "e"}) for _ in range(n)]


def good_records(log_dir: Path, session_id: str = SESSION) -> list[LogRecord]:
    items = list(iter_session_records(log_dir, session_id, strict=True))
    return [item for item in items if isinstance(item, LogRecord)]


# -- rotation -------------------------------------------------------------------------------


def test_rotation_continues_the_index_in_numbered_segments(
    open_log: OpenLog, log_dir: Path
) -> None:
    log = open_log(rotation=RotationPolicy(max_segment_bytes=2 * LINE_BYTES))
    assert append_n(log, 5) == [0, 1, 2, 3, 4]
    log.close()
    assert sorted(p.name for p in log_dir.iterdir()) == [
        "event_log-sess-1-000001.jsonl",
        "event_log-sess-1-000002.jsonl",
        "event_log-sess-1.jsonl",
    ]
    assert [indices(seg(log_dir, n)) for n in range(3)] == [[0, 1], [2, 3], [4]]
    assert all(seg(log_dir, n).stat().st_size <= 2 * LINE_BYTES for n in range(3))
    assert log.segment == 2
    assert log.path == seg(log_dir, 2)


def test_append_many_writes_a_batch_at_once_and_rotates_inside_it(
    open_log: OpenLog, log_dir: Path
) -> None:
    writes: list[bytes] = []

    def write(fd: int, data: bytes) -> int:
        writes.append(data)
        return os.write(fd, data)

    log = open_log(rotation=RotationPolicy(max_segment_bytes=2 * LINE_BYTES), write=write)
    assert log.append_many([({"type": "e"}, None)] * 5) == 5
    assert [data.count(b"\n") for data in writes] == [2, 2, 1]  # one write per segment
    log.close()
    assert [indices(seg(log_dir, n)) for n in range(3)] == [[0, 1], [2, 3], [4]]


def test_append_many_after_a_failed_write_goes_on_without_gaps(
    open_log: OpenLog, log_dir: Path, counters: Counters
) -> None:
    flaky = FlakyWrite()
    log = open_log(write=flaky)
    log.append({"type": "e"})
    flaky.fail_errno, flaky.partial = errno.ENOSPC, True
    # Each write takes half of what is left until one byte is: the two lines that made it
    # whole are kept, the torn third is cut back and counted.
    assert log.append_many([({"type": "e"}, None)] * 3) == 2
    assert counters.eventlog_write_failures == 1
    flaky.fail_errno = None
    assert log.append_many([({"type": "e"}, None)] * 3) == 3
    log.close()
    assert indices(seg(log_dir, 0)) == [0, 1, 2, 3, 4, 5]


def test_a_record_larger_than_the_cap_goes_alone_into_a_fresh_segment(
    open_log: OpenLog, log_dir: Path
) -> None:
    log = open_log(rotation=RotationPolicy(max_segment_bytes=2 * LINE_BYTES))
    log.append({"type": "e"})
    big = {"type": "big", "text": "x" * (5 * LINE_BYTES)}
    assert log.append(big) == 1
    log.append({"type": "e"})
    log.close()
    assert [indices(seg(log_dir, n)) for n in range(3)] == [[0], [1], [2]]
    assert decode_record(seg(log_dir, 1).read_bytes()).event == big


def test_a_first_record_larger_than_the_cap_stays_in_segment_zero(
    open_log: OpenLog, log_dir: Path
) -> None:
    log = open_log(rotation=RotationPolicy(max_segment_bytes=10))
    assert append_n(log, 2) == [0, 1]
    log.close()
    assert [indices(seg(log_dir, n)) for n in range(2)] == [[0], [1]]


def test_a_next_segment_name_taken_by_a_directory_keeps_the_record_in_this_one(
    open_log: OpenLog, log_dir: Path, counters: Counters
) -> None:
    log = open_log(rotation=RotationPolicy(max_segment_bytes=LINE_BYTES))
    log.append({"type": "e"})
    seg(log_dir, 1).mkdir()  # the next segment's name is taken by a directory
    assert log.append({"type": "e"}) == 1  # refused, counted; nothing lost
    assert counters.eventlog_unsafe_files == 1
    assert counters.eventlog_write_failures == 0
    assert indices(seg(log_dir, 0)) == [0, 1]
    seg(log_dir, 1).rmdir()
    assert log.append({"type": "e"}) == 2  # retried on the next append
    assert indices(seg(log_dir, 1)) == [2]
    log.close()


def test_rotation_that_cannot_open_the_next_segment_is_counted_and_retried(
    open_log: OpenLog, log_dir: Path, counters: Counters, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = open_log(rotation=RotationPolicy(max_segment_bytes=LINE_BYTES))
    log.append({"type": "e"})
    real_open = os.open

    def no_descriptors(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(path).endswith("-000001.jsonl"):
            raise OSError(errno.EMFILE, "Too many open files")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_descriptors)
    assert log.append_many([({"type": "e"}, None), ({"type": "e"}, None)]) == 2
    assert counters.eventlog_write_failures == 1  # tried once in that call
    assert indices(seg(log_dir, 0)) == [0, 1, 2]
    monkeypatch.setattr(os, "open", real_open)
    assert log.append({"type": "e"}) == 3
    assert indices(seg(log_dir, 1)) == [3]
    log.close()


# -- reopening -----------------------------------------------------------------------------


def test_reopening_resumes_the_index_and_never_truncates(open_log: OpenLog, log_dir: Path) -> None:
    with open_log() as log:
        append_n(log, 3)
    before = seg(log_dir, 0).read_bytes()
    with open_log() as log:
        assert log.next_index == 3
        assert log.append({"type": "e"}) == 3
    after = seg(log_dir, 0).read_bytes()
    assert after.startswith(before)
    assert indices(seg(log_dir, 0)) == [0, 1, 2, 3]


def test_reopening_resumes_across_segments(open_log: OpenLog, log_dir: Path) -> None:
    rotation = RotationPolicy(max_segment_bytes=2 * LINE_BYTES)
    with open_log(rotation=rotation) as log:
        append_n(log, 5)
    with open_log(rotation=rotation) as log:
        assert (log.next_index, log.segment) == (5, 2)
        append_n(log, 2)
    assert [r.index for r in good_records(log_dir)] == list(range(7))
    assert indices(seg(log_dir, 3)) == [6]


def test_reopening_when_the_newest_segment_is_empty(open_log: OpenLog, log_dir: Path) -> None:
    with open_log() as log:
        append_n(log, 3)
        assert log.rotate()
    assert seg(log_dir, 1).read_bytes() == b""
    with open_log() as log:
        assert (log.next_index, log.segment) == (3, 1)
        assert log.append({"type": "e"}) == 3
    assert indices(seg(log_dir, 1)) == [3]


def test_a_session_with_no_log_yet_starts_at_zero_in_segment_zero(
    open_log: OpenLog, log_dir: Path
) -> None:
    log = open_log("brand-new")
    assert (log.next_index, log.segment, log.path) == (0, 0, seg(log_dir, 0, "brand-new"))
    log.close()


# -- torn tails and corrupt lines ------------------------------------------------------------


def test_a_torn_tail_is_quarantined_and_cut(
    open_log: OpenLog, log_dir: Path, counters: Counters, caplog: pytest.LogCaptureFixture
) -> None:
    with open_log() as log:
        append_n(log, 3)
    good = seg(log_dir, 0).read_bytes()
    with seg(log_dir, 0).open("ab") as f:
        f.write(b'{"index":3,"emitted_at')
    with caplog.at_level(logging.WARNING, logger="acp_bridge.eventlog"):
        log = open_log()
    assert counters.eventlog_torn_tails == 1
    assert seg(log_dir, 0).read_bytes() == good
    torn = log_dir / (seg(log_dir, 0).name + ".torn")
    assert torn.read_bytes() == b'{"index":3,"emitted_at\n'
    assert stat.S_IMODE(torn.stat().st_mode) == 0o600
    assert seg(log_dir, 0).name in caplog.text
    assert "torn" in caplog.text
    assert log.next_index == 3
    assert log.append({"type": "e"}) == 3
    log.close()
    assert [r.index for r in good_records(log_dir)] == [0, 1, 2, 3]


def test_torn_tails_accumulate_one_per_line_in_quarantine(
    open_log: OpenLog, log_dir: Path, counters: Counters
) -> None:
    path = seg(log_dir, 0)
    log_dir.mkdir()
    big = b"y" * 200_000  # longer than the 64 KiB scan chunk, and no newline at all
    for tail in (b"abc", big):
        path.write_bytes(tail)
        open_log().close()
        assert path.read_bytes() == b""
    assert counters.eventlog_torn_tails == 2
    assert (log_dir / (path.name + ".torn")).read_bytes() == b"abc\n" + big + b"\n"


def test_a_corrupt_last_line_is_skipped_when_resuming(
    open_log: OpenLog, log_dir: Path, counters: Counters, caplog: pytest.LogCaptureFixture
) -> None:
    with open_log() as log:
        append_n(log, 3)
    with seg(log_dir, 0).open("ab") as f:
        f.write(b'{"type":"raw event without index"}\n[not, json\n\n')
    with caplog.at_level(logging.WARNING, logger="acp_bridge.eventlog"):
        log = open_log()
    assert log.next_index == 3
    assert counters.eventlog_corrupt_lines == 2
    assert counters.eventlog_torn_tails == 0
    assert "resuming past 2 corrupt and 1 unindexed line(s) (first: byte" in caplog.text
    log.close()


def test_resume_falls_back_to_an_earlier_segment_when_the_newest_has_no_good_line(
    open_log: OpenLog, log_dir: Path
) -> None:
    rotation = RotationPolicy(max_segment_bytes=2 * LINE_BYTES)
    with open_log(rotation=rotation) as log:
        append_n(log, 4)  # segments 0: [0, 1], 1: [2, 3]
        assert log.rotate()
    seg(log_dir, 2).write_bytes(b"garbage\n")
    with open_log(rotation=rotation) as log:
        assert (log.next_index, log.segment) == (4, 2)


def test_resume_handles_long_lines_spanning_scan_chunks(open_log: OpenLog) -> None:
    with open_log() as log:
        for n in range(4):
            log.append({"type": "e", "text": "z" * (50_000 * n)})
    with open_log() as log:
        assert log.next_index == 4


# -- write failures --------------------------------------------------------------------------


class FlakyWrite:
    """``os.write`` that fails on demand, optionally after writing part of the data."""

    def __init__(self) -> None:
        self.fail_errno: int | None = None
        self.partial = False

    def __call__(self, fd: int, data: bytes) -> int:
        if self.fail_errno is None:
            return os.write(fd, data)
        if self.partial and len(data) > 1:
            return os.write(fd, data[: len(data) // 2])  # the continuation call then fails
        raise OSError(self.fail_errno, os.strerror(self.fail_errno))


def test_write_failures_are_counted_logged_once_and_leave_no_trace(
    open_log: OpenLog, log_dir: Path, counters: Counters, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = FlakyWrite()
    log = open_log(write=flaky)
    append_n(log, 2)
    before = seg(log_dir, 0).read_bytes()
    flaky.fail_errno, flaky.partial = errno.ENOSPC, True
    with caplog.at_level(logging.INFO, logger="acp_bridge.eventlog"):
        assert append_n(log, 3) == [None, None, None]
        flaky.partial = False
        flaky.fail_errno = errno.EACCES
        assert log.append({"type": "e"}) is None
        assert seg(log_dir, 0).read_bytes() == before  # no partial line remains
        assert counters.eventlog_write_failures == 4
        assert log.next_index == 2
        error = log.last_error
        assert isinstance(error, OSError)
        assert error.errno == errno.EACCES
        failures = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(failures) == 2  # once per distinct errno
        assert "No space left" in failures[0].getMessage()
        flaky.fail_errno = None
        assert append_n(log, 2) == [2, 3]
    assert log.last_error is None
    assert "works again after" in caplog.text
    log.close()
    assert indices(seg(log_dir, 0)) == [0, 1, 2, 3]


def test_the_same_errno_is_logged_again_after_a_success(
    open_log: OpenLog, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = FlakyWrite()
    log = open_log(write=flaky)
    with caplog.at_level(logging.ERROR, logger="acp_bridge.eventlog"):
        for _ in range(2):
            flaky.fail_errno = errno.EIO
            log.append({"type": "e"})
            log.append({"type": "e"})
            flaky.fail_errno = None
            log.append({"type": "e"})
    assert len(caplog.records) == 2
    log.close()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_real_disk_full_error_is_absorbed(
    open_log: OpenLog, log_dir: Path, counters: Counters
) -> None:
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        log = open_log(write=lambda _fd, data: os.write(full, data))
        assert log.append({"type": "e"}) is None
        assert counters.eventlog_write_failures == 1
        assert log.last_error is not None
        assert log.last_error.errno == errno.ENOSPC
        log.close()
    finally:
        os.close(full)
    assert seg(log_dir, 0).read_bytes() == b""


def test_a_partial_line_that_cannot_be_cut_blocks_appends_until_it_can(
    open_log: OpenLog, log_dir: Path, counters: Counters, monkeypatch: pytest.MonkeyPatch
) -> None:
    flaky = FlakyWrite()
    log = open_log(write=flaky)
    log.append({"type": "e"})
    good = seg(log_dir, 0).read_bytes()

    def no_truncate(fd: int, length: int) -> None:
        raise OSError(errno.EROFS, "read-only file system")

    real_truncate = os.ftruncate
    monkeypatch.setattr(os, "ftruncate", no_truncate)
    flaky.fail_errno, flaky.partial = errno.ENOSPC, True
    assert log.append({"type": "e"}) is None
    flaky.fail_errno = None
    assert log.append({"type": "e"}) is None  # refused: would be glued to the partial line
    assert counters.eventlog_write_failures == 2
    monkeypatch.setattr(os, "ftruncate", real_truncate)
    assert log.append({"type": "e"}) == 1
    log.close()
    assert seg(log_dir, 0).read_bytes().startswith(good)
    assert indices(seg(log_dir, 0)) == [0, 1]


def test_close_cuts_a_pending_partial_line(
    open_log: OpenLog, log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flaky = FlakyWrite()
    log = open_log(write=flaky)
    log.append({"type": "e"})
    good = seg(log_dir, 0).read_bytes()
    real_truncate = os.ftruncate

    def no_truncate(fd: int, length: int) -> None:
        raise OSError(errno.EROFS, "read-only file system")

    monkeypatch.setattr(os, "ftruncate", no_truncate)
    flaky.fail_errno, flaky.partial = errno.ENOSPC, True
    assert log.append({"type": "e"}) is None
    assert seg(log_dir, 0).read_bytes() != good
    monkeypatch.setattr(os, "ftruncate", real_truncate)
    log.close()
    assert seg(log_dir, 0).read_bytes() == good


def test_an_fsync_failure_is_counted_but_the_record_is_kept(
    open_log: OpenLog, counters: Counters
) -> None:
    def failing_sync(fd: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    log = open_log(fsync=FsyncPolicy(mode="always"), sync=failing_sync)
    assert log.append({"type": "e"}) == 0
    assert counters.eventlog_write_failures == 1
    log.close()


def test_a_torn_tail_that_cannot_be_quarantined_is_kept_and_opening_fails(
    open_log: OpenLog, log_dir: Path, counters: Counters
) -> None:
    log_dir.mkdir()
    seg(log_dir, 0).write_bytes(b"whole\ntorn")
    flaky = FlakyWrite()
    flaky.fail_errno = errno.ENOSPC
    with pytest.raises(EventLogError, match="No space left"):
        open_log(write=flaky)
    assert seg(log_dir, 0).read_bytes() == b"whole\ntorn"  # never dropped silently
    assert counters.eventlog_torn_tails == 0


def test_rotate_after_close_is_refused(open_log: OpenLog, counters: Counters) -> None:
    log = open_log()
    log.close()
    assert not log.rotate()
    assert counters.eventlog_write_failures == 1


def test_opening_in_an_unusable_directory_raises_event_log_error(
    tmp_path: Path, counters: Counters
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"")
    with pytest.raises(EventLogError, match="cannot open the event log"):
        JsonlEventLog(not_a_dir / "logs", SESSION, counters=counters)


# -- files, modes and names ----------------------------------------------------------------


def test_a_session_log_has_one_appender_at_a_time(open_log: OpenLog, log_dir: Path) -> None:
    first = open_log()
    first.append({"type": "e"})
    assert session_in_use(seg(log_dir, 0))
    with pytest.raises(EventLogInUseError, match="open in another process"):
        open_log()
    assert indices(seg(log_dir, 0)) == [0]  # the refused opener touched nothing
    first.close()
    assert not session_in_use(seg(log_dir, 0))
    second = open_log()
    assert second.append({"type": "e"}) == 1
    second.close()


def test_a_file_system_without_locks_is_warned_about_and_used_unlocked(
    open_log: OpenLog, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with caplog.at_level(logging.WARNING, logger="acp_bridge.eventlog"):
        log = open_log()
    assert log.append({"type": "e"}) == 0
    assert "cannot lock it" in caplog.text
    log.close()


def test_no_log_is_not_in_use(log_dir: Path) -> None:
    assert not session_in_use(log_dir / "event_log-nobody.jsonl")


def test_directory_and_files_are_private(open_log: OpenLog, log_dir: Path) -> None:
    with open_log(rotation=RotationPolicy(max_segment_bytes=LINE_BYTES)) as log:
        append_n(log, 2)
    assert stat.S_IMODE(log_dir.stat().st_mode) == 0o700
    for n in (0, 1):
        assert stat.S_IMODE(seg(log_dir, n).stat().st_mode) == 0o600


@pytest.mark.parametrize("session_id", ["../escape", "/abs/path", "a\x00b", "..", "", "x" * 10_000])
def test_unsafe_session_ids_stay_inside_the_log_directory(
    open_log: OpenLog, log_dir: Path, session_id: str
) -> None:
    with open_log(session_id) as log:
        log.append({"type": "e"})
    [only] = log_dir.iterdir()
    assert only == seg(log_dir, 0, session_id)
    assert list(log_dir.parent.iterdir()) == [log_dir]
    assert [r.index for r in good_records(log_dir, session_id)] == [0]
    assert segment_paths(log_dir, session_id) == [only]


def test_sessions_with_colliding_harn_names_get_separate_logs(
    open_log: OpenLog, log_dir: Path
) -> None:
    with open_log("a/b") as ab, open_log("a_b") as a_b:
        ab.append({"type": "from a/b"})
        a_b.append({"type": "from a_b"})
    assert [r.event["type"] for r in good_records(log_dir, "a/b")] == ["from a/b"]
    assert [r.event["type"] for r in good_records(log_dir, "a_b")] == ["from a_b"]


# -- fsync policy in action ------------------------------------------------------------------


class SyncSpy:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, fd: int) -> None:
        os.fstat(fd)  # a real fd
        self.calls += 1


def test_fsync_always_syncs_every_record(open_log: OpenLog) -> None:
    spy = SyncSpy()
    log = open_log(fsync=FsyncPolicy(mode="always"), sync=spy)
    append_n(log, 3)
    assert spy.calls == 3
    log.close()
    assert spy.calls == 3  # nothing left to sync


def test_fsync_interval_counts_records_and_seconds(open_log: OpenLog) -> None:
    spy = SyncSpy()
    now = [0.0]
    policy = FsyncPolicy(mode="interval", every_records=3, every_seconds=10.0)
    log = open_log(fsync=policy, sync=spy, monotonic=lambda: now[0])
    append_n(log, 7)
    assert spy.calls == 2  # after records 3 and 6
    now[0] = 10.0
    log.append({"type": "e"})
    assert spy.calls == 3  # time's up for records 7 and 8
    log.append({"type": "e"})
    log.close()
    assert spy.calls == 4  # close syncs what is pending


def test_a_background_sync_is_left_to_the_caller_on_a_duplicate_descriptor(
    open_log: OpenLog, log_dir: Path, counters: Counters
) -> None:
    spy = SyncSpy()
    policy = FsyncPolicy(mode="interval", every_records=3, every_seconds=10.0)
    log = open_log(fsync=policy, sync=spy, monotonic=lambda: 0.0, background_sync=True)
    wanted = []
    append_n(log, 2)
    wanted.append(log.sync_wanted)
    assert log.append_many([({"type": "e"}, None)] * 2) == 2
    wanted.append(log.sync_wanted)
    assert spy.calls == 0  # not here: the caller syncs elsewhere
    handle = log.begin_sync()
    assert handle is not None
    wanted.append(log.sync_wanted)
    assert wanted == [False, True, False]
    assert os.path.samestat(os.fstat(handle), os.stat(seg(log_dir, 0)))
    log.close()  # the duplicate outlives the log's own descriptor
    os.fsync(handle)
    log.end_sync(handle, None)
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(handle)  # closed by end_sync
    assert spy.calls == 0  # close had nothing left to sync
    assert log.begin_sync() is None  # closed: nothing to sync
    assert counters.eventlog_write_failures == 0


def test_a_failed_background_sync_is_counted(open_log: OpenLog, counters: Counters) -> None:
    policy = FsyncPolicy(mode="interval", every_records=1, every_seconds=10.0)
    log = open_log(fsync=policy, monotonic=lambda: 0.0, background_sync=True)
    log.append({"type": "e"})
    handle = log.begin_sync()
    assert handle is not None
    log.end_sync(handle, OSError(errno.EIO, "I/O error"))
    assert counters.eventlog_write_failures == 1
    log.close()


def test_always_syncs_right_away_even_with_background_sync(open_log: OpenLog) -> None:
    spy = SyncSpy()
    log = open_log(fsync=FsyncPolicy(mode="always"), sync=spy, background_sync=True)
    append_n(log, 2)
    assert (spy.calls, log.sync_wanted) == (2, False)
    log.close()


def test_fsync_at_rotation_and_on_durable_flush(open_log: OpenLog) -> None:
    spy = SyncSpy()
    log = open_log(
        fsync=FsyncPolicy(mode="interval", every_records=100, every_seconds=1e9),
        sync=spy,
        monotonic=lambda: 0.0,
        rotation=RotationPolicy(max_segment_bytes=LINE_BYTES),
    )
    log.append({"type": "e"})
    assert spy.calls == 0
    log.append({"type": "e"})  # rotates: the old segment is synced first
    assert spy.calls == 1
    log.flush()
    assert spy.calls == 1
    log.flush(durable=True)
    assert spy.calls == 2
    log.close()
    assert spy.calls == 2


def test_fsync_never_means_never_unless_asked(open_log: OpenLog) -> None:
    spy = SyncSpy()
    log = open_log(fsync=NEVER, sync=spy, rotation=RotationPolicy(max_segment_bytes=LINE_BYTES))
    append_n(log, 5)
    log.close()
    assert spy.calls == 0
    log = open_log(fsync=NEVER, sync=spy)
    log.append({"type": "e"})
    log.flush(durable=True)
    assert spy.calls == 1
    log.close()


def test_lines_on_disk_are_harn_shaped(open_log: OpenLog, log_dir: Path) -> None:
    with open_log(clock_ms=lambda: 1_700_000_000_123) as log:
        log.append({"type": "agent_message_chunk", "content": "hi"}, frame_depth=1)
    [line] = seg(log_dir, 0).read_bytes().splitlines(keepends=True)
    assert orjson.loads(line) == {
        "index": 0,
        "emitted_at_ms": 1_700_000_000_123,
        "frame_depth": 1,
        "type": "agent_message_chunk",
        "content": "hi",
    }


def test_clock_is_injectable(open_log: OpenLog, clock_ms: Callable[[], int]) -> None:
    with open_log(clock_ms=clock_ms) as log:
        log.append({"type": "e"})
        log.append({"type": "e"})
    assert [r.emitted_at_ms for r in good_records(log.directory)] == [
        1_700_000_000_000,
        1_700_000_000_001,
    ]
