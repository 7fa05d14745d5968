"""One contract, two backends: ``MemoryEventLog`` and ``JsonlEventLog`` (eventsourcing style)."""

from __future__ import annotations

import abc
import errno
import logging
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from acp_bridge.eventlog.memory import MemoryEventLog
from acp_bridge.eventlog.reader import segment_paths
from acp_bridge.eventlog.records import decode_record
from acp_bridge.eventlog.rotation import FsyncPolicy
from acp_bridge.eventlog.writer import EventLog, JsonlEventLog

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from acp_bridge.counters import Counters

SESSION = "sess-1"
EVENTS: list[dict[str, Any]] = [
    {"type": "acp_bridge.prompt", "session_id": SESSION, "text": "hi\nthere"},
    {"type": "agent_message_chunk", "session_id": SESSION, "content": {"text": "é 漢 🙂"}},
    {"type": "tool_call", "args": [1, 2.5, None, True], "nested": {"a": {"b": []}}},
    {"type": "acp_bridge.turn_ended", "stop_reason": "end_turn"},
]


class EventLogContract(abc.ABC):
    """Behaviour every ``EventLog`` backend shares; subclasses say how to build and read one."""

    @pytest.fixture(autouse=True)
    def _setup(self, tmp_path: Path, counters: Counters, clock_ms: Callable[[], int]) -> None:
        self.tmp_path = tmp_path
        self.counters = counters
        self.clock_ms = clock_ms

    @abc.abstractmethod
    def create_log(self) -> EventLog: ...

    @abc.abstractmethod
    def stored_lines(self, log: EventLog) -> list[bytes]: ...

    def test_a_new_log_starts_at_index_zero(self) -> None:
        assert self.create_log().next_index == 0

    def test_append_assigns_consecutive_indices_from_zero(self) -> None:
        log = self.create_log()
        assert [log.append(event) for event in EVENTS] == [0, 1, 2, 3]
        assert log.next_index == 4

    def test_records_decode_back_to_the_appended_events(self) -> None:
        log = self.create_log()
        for event in EVENTS:
            log.append(event)
        records = [decode_record(line) for line in self.stored_lines(log)]
        assert [r.event for r in records] == EVENTS
        assert [r.index for r in records] == [0, 1, 2, 3]

    def test_each_record_is_one_compact_line_with_envelope_keys_first(self) -> None:
        log = self.create_log()
        log.append({"type": "x", "text": "a\nb"}, frame_depth=2, emitted_at_ms=5)
        [line] = self.stored_lines(log)
        assert line == b'{"index":0,"emitted_at_ms":5,"frame_depth":2,"type":"x","text":"a\\nb"}\n'
        assert list(orjson.loads(line))[:3] == ["index", "emitted_at_ms", "frame_depth"]

    def test_frame_depth_is_null_unless_given(self) -> None:
        log = self.create_log()
        log.append({"type": "a"})
        log.append({"type": "b"}, frame_depth=0)
        log.append({"type": "c"}, frame_depth=3)
        depths = [orjson.loads(line)["frame_depth"] for line in self.stored_lines(log)]
        assert depths == [None, 0, 3]
        assert b'"frame_depth":null' in self.stored_lines(log)[0]

    def test_emitted_at_ms_comes_from_the_clock_unless_given(self) -> None:
        log = self.create_log()
        log.append({"type": "a"})
        log.append({"type": "b"}, emitted_at_ms=42)
        stamps = [decode_record(line).emitted_at_ms for line in self.stored_lines(log)]
        assert stamps == [1_700_000_000_000, 42]

    def test_event_keys_never_override_the_envelope(self) -> None:
        log = self.create_log()
        log.append({"type": "x", "index": 99, "frame_depth": "deep"}, emitted_at_ms=1)
        [line] = self.stored_lines(log)
        raw = orjson.loads(line)
        assert (raw["index"], raw["frame_depth"]) == (0, None)
        assert (raw["_event_index"], raw["_event_frame_depth"]) == (99, "deep")
        assert decode_record(line).event == {"type": "x", "index": 99, "frame_depth": "deep"}

    def test_an_unencodable_event_is_counted_and_consumes_no_index(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        log = self.create_log()
        with caplog.at_level(logging.ERROR, logger="acp_bridge.eventlog"):
            assert log.append({"type": "x", "n": 2**70}) is None
            assert log.append({"type": "x", "n": object()}) is None
        assert self.counters.eventlog_write_failures == 2
        assert log.append({"type": "ok"}) == 0
        assert len(self.stored_lines(log)) == 1
        assert "record not stored" in caplog.text

    def test_append_after_close_returns_none_and_is_counted(self) -> None:
        log = self.create_log()
        log.append({"type": "a"})
        log.close()
        log.close()  # idempotent
        assert log.append({"type": "b"}) is None
        assert self.counters.eventlog_write_failures == 1
        assert len(self.stored_lines(log)) == 1
        assert log.last_error is not None
        assert log.last_error.errno == errno.EBADF

    def test_a_new_log_has_no_last_error_and_works_as_a_context_manager(self) -> None:
        log = self.create_log()
        assert log.last_error is None
        assert isinstance(log, MemoryEventLog | JsonlEventLog)
        with log as same:
            assert same is log
            same.append({"type": "a"})
        assert log.append({"type": "b"}) is None  # closed on exit

    def test_append_many_stores_in_order_with_one_timestamp(self) -> None:
        log = self.create_log()
        log.append({"type": "first"})
        assert log.append_many([(event, None) for event in EVENTS[:2]] + [(EVENTS[2], 4)]) == 3
        assert log.next_index == 4
        records = [decode_record(line) for line in self.stored_lines(log)]
        assert [r.index for r in records] == [0, 1, 2, 3]
        assert [r.event for r in records[1:]] == EVENTS[:3]
        assert [r.frame_depth for r in records] == [None, None, None, 4]
        assert len({r.emitted_at_ms for r in records[1:]}) == 1
        assert log.append_many([]) == 0

    def test_append_many_skips_and_counts_what_it_cannot_store(self) -> None:
        log = self.create_log()
        batch: list[tuple[dict[str, Any], int | None]] = [
            ({"type": "a"}, None),
            ({"type": "x", "n": 2**70}, None),
            ({"type": "b"}, None),
        ]
        assert log.append_many(batch) == 2
        assert self.counters.eventlog_write_failures == 1
        records = [decode_record(line) for line in self.stored_lines(log)]
        assert [(r.index, r.event["type"]) for r in records] == [(0, "a"), (1, "b")]
        log.close()
        assert log.append_many(batch) == 0
        assert self.counters.eventlog_write_failures == 4  # each record of the batch

    def test_flush_in_both_modes_keeps_everything(self) -> None:
        log = self.create_log()
        log.append({"type": "a"})
        log.flush()
        log.flush(durable=True)
        log.append({"type": "b"})
        log.close()
        assert [decode_record(x).index for x in self.stored_lines(log)] == [0, 1]


class TestMemoryEventLog(EventLogContract):
    def create_log(self) -> EventLog:
        return MemoryEventLog(counters=self.counters, clock_ms=self.clock_ms)

    def stored_lines(self, log: EventLog) -> list[bytes]:
        assert isinstance(log, MemoryEventLog)
        return list(log.lines)

    def test_records_helper_decodes_the_lines(self) -> None:
        log = MemoryEventLog(clock_ms=self.clock_ms)
        log.append({"type": "a"}, frame_depth=1)
        [record] = log.records()
        assert (record.index, record.frame_depth, record.event) == (0, 1, {"type": "a"})


class TestJsonlEventLog(EventLogContract):
    def create_log(self) -> EventLog:
        return JsonlEventLog(
            self.tmp_path / "logs",
            SESSION,
            counters=self.counters,
            clock_ms=self.clock_ms,
            fsync=FsyncPolicy(mode="always"),
        )

    def stored_lines(self, log: EventLog) -> list[bytes]:
        assert isinstance(log, JsonlEventLog)
        paths = segment_paths(log.directory, log.session_id)
        return [line for path in paths for line in path.read_bytes().splitlines(keepends=True)]
