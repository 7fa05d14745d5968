"""Reading logs back: segment discovery, order, line numbers, corrupt and torn lines."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from support.eventlog_helpers import iter_session_records, read_records

from acp_bridge.errors import EventLogCorruptError, EventLogError
from acp_bridge.eventlog.naming import segment_file_name
from acp_bridge.eventlog.reader import TORN_REASON, CorruptLine, segment_paths, segments_for_file
from acp_bridge.eventlog.records import LogRecord, encode_record
from acp_bridge.eventlog.rotation import FsyncPolicy, RotationPolicy
from acp_bridge.eventlog.writer import JsonlEventLog

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from acp_bridge.counters import Counters

SESSION = "sess-1"


def line(index: int, kind: str = "e") -> bytes:
    return encode_record(index, 1, None, {"type": kind})


def write_segments(log_dir: Path, *segments: bytes, session: str = SESSION) -> list[Path]:
    log_dir.mkdir(exist_ok=True)
    paths = []
    for number, content in enumerate(segments):
        path = log_dir / segment_file_name(session, number)
        path.write_bytes(content)
        paths.append(path)
    return paths


def split(items: Iterable[LogRecord | CorruptLine]) -> tuple[list[int | None], list[CorruptLine]]:
    records, corrupt = [], []
    for item in items:
        if isinstance(item, LogRecord):
            records.append(item.index)
        else:
            corrupt.append(item)
    return records, corrupt


def test_segment_paths_lists_a_sessions_segments_in_numeric_order(log_dir: Path) -> None:
    log_dir.mkdir()
    for file_name in [
        "event_log-sess-1-000010.jsonl",
        "event_log-sess-1.jsonl",
        "event_log-sess-1-000002.jsonl",
        "event_log-sess-1.jsonl.torn",
        "event_log-sess-10.jsonl",
        "event_log-other.jsonl",
    ]:
        (log_dir / file_name).write_bytes(b"")
    assert [p.name for p in segment_paths(log_dir, SESSION)] == [
        "event_log-sess-1.jsonl",
        "event_log-sess-1-000002.jsonl",
        "event_log-sess-1-000010.jsonl",
    ]


def test_a_missing_directory_has_no_segments(log_dir: Path) -> None:
    assert segment_paths(log_dir, SESSION) == []
    assert list(iter_session_records(log_dir, SESSION, strict=True)) == []


def test_segments_for_file(log_dir: Path) -> None:
    paths = write_segments(log_dir, line(0), line(1), line(2))
    (log_dir / "event_log-other-000001.jsonl").write_bytes(b"")
    assert segments_for_file(paths[0]) == paths
    assert segments_for_file(paths[1]) == [paths[1]]
    other = log_dir / "events.jsonl"
    assert segments_for_file(other) == [other]


def test_records_stream_across_segments_in_order(log_dir: Path) -> None:
    write_segments(log_dir, line(0) + line(1), line(2) + line(3), line(4))
    records, corrupt = split(iter_session_records(log_dir, SESSION, strict=False))
    assert (records, corrupt) == ([0, 1, 2, 3, 4], [])


def test_corrupt_lines_carry_their_segment_and_line_number(log_dir: Path) -> None:
    paths = write_segments(log_dir, line(0) + line(1), line(2) + b"oops\n" + line(3) + b"[1]\n")
    records, corrupt = split(read_records(paths))
    assert records == [0, 1, 2, 3]
    assert [(c.path, c.lineno, c.raw) for c in corrupt] == [
        (str(paths[1]), 2, b"oops"),
        (str(paths[1]), 4, b"[1]"),
    ]
    assert corrupt[1].reason == "not a JSON object (a JSON array)"
    assert str(corrupt[1]) == f"{paths[1]}:4: not a JSON object (a JSON array)"


def test_strict_reading_raises_at_the_first_corrupt_line(log_dir: Path) -> None:
    paths = write_segments(log_dir, line(0) + line(1), line(2) + b"oops\n")
    seen: list[LogRecord | CorruptLine] = []
    with pytest.raises(EventLogCorruptError) as info:
        seen.extend(iter_session_records(log_dir, SESSION, strict=True))
    assert (info.value.path, info.value.lineno) == (str(paths[1]), 2)
    assert info.value.reason.startswith("not JSON")
    assert str(info.value).startswith(f"{paths[1]}:2: not JSON")
    assert [r.index for r in seen if isinstance(r, LogRecord)] == [0, 1, 2]


def test_an_unterminated_last_line_is_reported_as_torn_not_parsed(log_dir: Path) -> None:
    complete_but_unterminated = line(1).rstrip(b"\n")
    paths = write_segments(log_dir, line(0) + complete_but_unterminated)
    records, corrupt = split(read_records(paths))
    assert records == [0]
    assert [(c.lineno, c.reason, c.raw) for c in corrupt] == [
        (2, TORN_REASON, complete_but_unterminated)
    ]
    with pytest.raises(EventLogCorruptError, match="torn last line"):
        list(iter_session_records(log_dir, SESSION, strict=True))


def test_index_gaps_and_steps_back_are_reported(log_dir: Path) -> None:
    paths = write_segments(log_dir, line(0) + line(1) + line(3), line(4) + line(2))
    records, corrupt = split(read_records(paths))
    assert records == [0, 1, 3, 4, 2]  # the records themselves are still delivered
    assert [(c.path, c.lineno, c.reason) for c in corrupt] == [
        (str(paths[0]), 3, "index gap: expected 2, found 3"),
        (str(paths[1]), 2, "index went back: expected 5, found 2"),
    ]
    assert split(read_records(paths, check_index=False))[1] == []


def test_a_log_may_start_above_zero_after_retention(log_dir: Path) -> None:
    log_dir.mkdir()
    path = log_dir / segment_file_name(SESSION, 7)
    path.write_bytes(line(70) + line(71))
    assert split(iter_session_records(log_dir, SESSION, strict=True)) == ([70, 71], [])


def test_a_harn_style_file_of_raw_events_reads_fine(tmp_path: Path) -> None:
    path = tmp_path / "event_log.jsonl"
    path.write_bytes(
        b'{"type":"turn_start","session_id":"s","iteration":1}\n'
        b'{"type":"agent_message_chunk","session_id":"s","content":"hi"}\n'
    )
    items = list(read_records(segments_for_file(path)))
    assert all(isinstance(item, LogRecord) for item in items)
    assert [(r.index, r.event["type"]) for r in items if isinstance(r, LogRecord)] == [
        (None, "turn_start"),
        (None, "agent_message_chunk"),
    ]


def test_overlong_lines_are_reported_without_being_held(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(line(0) + b'{"x":"' + b"a" * 300_000 + b'"}\n' + line(1) + b"b" * 200)
    records, corrupt = split(read_records([path], max_line_bytes=1_000))
    assert records == [0, 1]
    assert [(c.lineno, c.reason, len(c.raw)) for c in corrupt] == [
        (2, "line longer than 1000 bytes", 1_000),
        (4, TORN_REASON, 200),
    ]


def test_reading_is_lazy_and_unreadable_files_raise_event_log_error(tmp_path: Path) -> None:
    items = read_records([tmp_path / "missing.jsonl"])
    with pytest.raises(EventLogError, match="cannot read"):
        next(items)


def test_a_log_written_by_the_writer_reads_back_strictly(log_dir: Path, counters: Counters) -> None:
    with JsonlEventLog(
        log_dir,
        "a/b",
        counters=counters,
        rotation=RotationPolicy(max_segment_bytes=200),
        fsync=FsyncPolicy(mode="never"),
    ) as log:
        for n in range(20):
            log.append({"type": "agent_message_chunk", "n": n}, frame_depth=n % 3)
    records = list(iter_session_records(log_dir, "a/b", strict=True))
    assert len(segment_paths(log_dir, "a/b")) > 3
    assert [(r.index, r.event["n"]) for r in records if isinstance(r, LogRecord)] == [
        (n, n) for n in range(20)
    ]
