"""Nothing under the log directory can fool, wedge or escape the bridge.

Every test runs the real bridge over real pipes against a log directory someone else has
been at: session ids shaped like segment numbers, planted symbolic links, FIFOs and
devices named like logs, modes left open, loads cancelled half way or asked for twice,
sessions updated while an editor pages through ``session/list``, and cursors the bridge
never handed out. Figures are the ones the README's reliability table reports.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.editor import FakeEditor, thread_update
from support.paths import VMS

from acp_bridge.counters import Counters
from acp_bridge.eventlog.locking import session_in_use
from acp_bridge.eventlog.naming import log_name_for, segment_file_name, torn_file_name
from acp_bridge.eventlog.records import prompt_record, session_record, turn_ended_record
from acp_bridge.eventlog.rotation import FsyncPolicy
from acp_bridge.eventlog.writer import JsonlEventLog

pytestmark = pytest.mark.e2e

EXEC_VM = [sys.executable, str(VMS / "exec_vm.py")]
ECHO = shlex.join([*EXEC_VM, "--echo"])

#: uuid4s whose last group is all digits: one in about 280 of the ids the bridge makes.
DIGIT_TAIL_IDS = [
    "0f8fad5b-d9cb-469f-a165-000000000001",
    "7c9e6679-7425-40de-944b-123456789012",
    "16fd2706-8baf-433b-82eb-000001000000",
]
#: Sessions listed, and how many ``session/list`` returns per page.
LISTED_SESSIONS = 250
PAGE = 100
#: Records in the log whose load is cancelled half way (enough to fill the editor's pipe).
SLOW_LOAD_EVENTS = 60_000


def write_session_log(
    log_dir: Path,
    session_id: str,
    cwd: Path,
    *,
    text: str = "hello",
    at_ms: int = 1_700_000_000_000,
    chunks: int = 1,
) -> None:
    """A log as the bridge writes one: its opening record, then one turn."""
    log = JsonlEventLog(
        log_dir,
        session_id,
        counters=Counters(),
        fsync=FsyncPolicy(mode="never"),
        clock_ms=lambda: at_ms,
    )
    with log:
        log.append(session_record(session_id, str(cwd), [], []))
        log.append(prompt_record(session_id, [{"type": "text", "text": text}]))
        log.append_many(
            [
                (
                    {"type": "agent_message_chunk", "session_id": session_id, "content": f"n{n} "},
                    None,
                )
                for n in range(chunks)
            ]
        )
        log.append(turn_ended_record(session_id, "end_turn"))


def load(editor: FakeEditor, session_id: str, cwd: Path, method: str = "session/load") -> Any:
    return editor.request(method, {"sessionId": session_id, "cwd": str(cwd), "mcpServers": []})


def counters_of(editor: FakeEditor) -> dict[str, int]:
    counters: dict[str, int] = editor.call("_acp_bridge/status", {})["counters"]
    return counters


def fingerprint(path: Path) -> tuple[bytes, int, int]:
    """What a file outside the log directory must keep: its bytes, size and mtime."""
    st = path.stat()
    return path.read_bytes(), st.st_size, st.st_mtime_ns


# --------------------------------------------------------------------------- item 4: ids


@pytest.mark.parametrize("session_id", DIGIT_TAIL_IDS)
def test_an_id_ending_in_digits_loads_resumes_closes_and_deletes(
    tmp_path: Path, session_id: str
) -> None:
    logs = tmp_path / "logs"
    write_session_log(logs, session_id, tmp_path, text="digits at the end")
    with FakeEditor("--vm-exec", ECHO, log_dir=logs) as editor:
        editor.initialize()
        listed = editor.call("session/list", {})["sessions"]
        assert [s["sessionId"] for s in listed] == [session_id]
        assert listed[0]["title"] == "digits at the end"
        assert editor.wait_response(load(editor, session_id, tmp_path))["result"] == {}
        replayed = [
            u for u in editor.updates(session_id) if u["sessionUpdate"] == "user_message_chunk"
        ]
        assert [u["content"]["text"] for u in replayed] == ["digits at the end"]
        assert editor.call("session/close", {"sessionId": session_id}) == {}
        resumed = editor.wait_response(load(editor, session_id, tmp_path, "session/resume"))
        assert resumed["result"] == {}
        answer = editor.call(
            "session/prompt", {"sessionId": session_id, "prompt": [{"type": "text", "text": "on"}]}
        )
        assert answer["stopReason"] == "end_turn"
        assert editor.call("session/close", {"sessionId": session_id}) == {}
        assert editor.call("session/delete", {"sessionId": session_id}) == {}
        assert list(logs.iterdir()) == []
        assert editor.call("session/list", {}) == {"sessions": []}
        editor.close()
        assert editor.problems() == []


def test_every_id_the_bridge_hands_out_and_lists_loads_and_deletes(tmp_path: Path) -> None:
    """Sessions the bridge made, and ones with digit tails beside them, all round-trip."""
    logs = tmp_path / "logs"
    for session_id in DIGIT_TAIL_IDS:
        write_session_log(logs, session_id, tmp_path)
    with FakeEditor("--vm-exec", ECHO, log_dir=logs) as editor:
        editor.initialize()
        made = [editor.new_session(tmp_path) for _ in range(5)]
        listed = [s["sessionId"] for s in editor.call("session/list", {})["sessions"]]
        assert sorted(listed) == sorted([*made, *DIGIT_TAIL_IDS])
        for session_id in listed:
            assert editor.wait_response(load(editor, session_id, tmp_path))["result"] == {}
            assert editor.call("session/close", {"sessionId": session_id}) == {}
            assert editor.call("session/delete", {"sessionId": session_id}) == {}
        assert list(logs.iterdir()) == []
        editor.close()
        assert editor.problems() == []


# --------------------------------------------------------------------------- item 7: files


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside the log directory, ending without a newline (a "torn tail")."""
    path = tmp_path / "outside.txt"
    path.write_bytes(b"precious\nno newline at the end")
    return path


def test_a_log_planted_as_a_link_is_refused_never_followed(tmp_path: Path, outside: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o700)
    planted = logs / segment_file_name("planted-1", 0)
    planted.symlink_to(outside)
    before = fingerprint(outside)
    with FakeEditor("--vm-exec", ECHO, log_dir=logs) as editor:
        editor.initialize()
        assert editor.call("session/list", {}) == {"sessions": []}
        for method in ("session/load", "session/resume"):
            refused = editor.wait_response(load(editor, "planted-1", tmp_path, method))
            assert refused["error"]["code"] == -32603, refused
            assert "symbolic link" in refused["error"]["message"]
        assert fingerprint(outside) == before
        assert counters_of(editor)["eventlog_unsafe_files"] == 3  # list, load, resume
        editor.wait_stderr("symbolic link")
        # Deleting the session removes the link, never what it points at.
        assert editor.call("session/delete", {"sessionId": "planted-1"}) == {}
        assert not planted.is_symlink()
        assert fingerprint(outside) == before
        editor.close()
        assert editor.problems() == []


def test_a_torn_file_planted_as_a_link_is_refused_and_the_segment_left_as_it_was(
    tmp_path: Path, outside: Path
) -> None:
    logs = tmp_path / "logs"
    write_session_log(logs, "torn-1", tmp_path)
    segment = logs / segment_file_name("torn-1", 0)
    with segment.open("ab") as f:
        f.write(b'{"index": 4, "emitted_at')  # a crash mid-write
    torn = logs / torn_file_name(segment.name)
    torn.symlink_to(outside)
    before, segment_before = fingerprint(outside), segment.read_bytes()
    with FakeEditor("--vm-exec", ECHO, log_dir=logs) as editor:
        editor.initialize()
        refused = editor.wait_response(load(editor, "torn-1", tmp_path))
        assert "symbolic link" in refused["error"]["message"], refused
        assert fingerprint(outside) == before
        assert segment.read_bytes() == segment_before  # nothing cut: its tail is not copied
        torn.unlink()
        assert editor.wait_response(load(editor, "torn-1", tmp_path))["result"] == {}
        assert stat.S_ISREG(torn.lstat().st_mode)
        assert torn.read_bytes() == b'{"index": 4, "emitted_at\n'
        editor.close()
        assert editor.problems() == []


def test_a_next_segment_planted_as_a_link_is_refused_and_nothing_is_lost(
    tmp_path: Path, outside: Path
) -> None:
    logs = tmp_path / "logs"
    events = 20_000  # about 2 MiB of records: past a 1 MiB cap
    flood = shlex.join([*EXEC_VM, "--flood", str(events)])
    before = fingerprint(outside)
    with FakeEditor(
        "--max-segment-mib", "1", "--vm-exec", flood, log_dir=logs, strict=False
    ) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        (logs / segment_file_name(log_name_for(sid), 1)).symlink_to(outside)
        answer = editor.call(
            "session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "go"}]}, 60
        )
        assert answer["stopReason"] == "end_turn"
        assert fingerprint(outside) == before
        counters = counters_of(editor)
        assert counters["eventlog_unsafe_files"] >= 1
        assert counters["eventlog_write_failures"] == 0
        editor.wait_stderr("symbolic link")
        editor.close()
    first = logs / segment_file_name(log_name_for(sid), 0)
    chunks = [
        json.loads(line)["content"]
        for line in first.read_bytes().splitlines()
        if b'"agent_message_chunk"' in line
    ]
    assert chunks == [f"n{i} " for i in range(events)]  # every record, past the cap


def test_a_fifo_named_like_a_log_never_wedges_the_bridge(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o700)
    fifo = logs / segment_file_name("fifo-1", 0)
    os.mkfifo(fifo)
    with FakeEditor("--vm-exec", ECHO, log_dir=logs) as editor:
        editor.initialize()
        assert editor.call("session/list", {}) == {"sessions": []}
        for method in ("session/load", "session/resume"):
            refused = editor.wait_response(load(editor, "fifo-1", tmp_path, method))
            assert "a FIFO" in refused["error"]["message"], refused
        assert counters_of(editor)["eventlog_unsafe_files"] == 3
        assert editor.call("session/delete", {"sessionId": "fifo-1"}) == {}
        assert not fifo.exists()
        editor.close()
        assert editor.problems() == []


def test_a_link_to_dev_zero_is_refused_without_reading_it(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o700)
    (logs / segment_file_name("zero-1", 0)).symlink_to("/dev/zero")
    write_session_log(logs, "beside-1", tmp_path)
    (logs / segment_file_name("beside-1", 1)).symlink_to("/dev/zero")
    with FakeEditor("--vm-exec", ECHO, log_dir=logs) as editor:
        editor.initialize()
        assert editor.call("session/list", {}) == {"sessions": []}
        for session_id in ("zero-1", "beside-1"):
            refused = editor.wait_response(load(editor, session_id, tmp_path))
            assert "symbolic link" in refused["error"]["message"], refused
        editor.close()
        assert editor.problems() == []


def test_a_preexisting_open_log_directory_and_logs_are_made_private(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_session_log(logs, "listed-1", tmp_path)
    write_session_log(logs, "loaded-1", tmp_path)
    logs.chmod(0o777)
    for path in logs.iterdir():
        path.chmod(0o644)
    with FakeEditor("--vm-exec", ECHO, log_dir=logs) as editor:
        editor.initialize()
        assert len(editor.call("session/list", {})["sessions"]) == 2
        assert editor.wait_response(load(editor, "loaded-1", tmp_path))["result"] == {}
        editor.close()
    assert stat.S_IMODE(logs.stat().st_mode) == 0o700
    assert {stat.S_IMODE(path.stat().st_mode) for path in logs.iterdir()} == {0o600}


# --------------------------------------------------------------------------- item 8: loads


def test_a_load_cancelled_half_way_lets_go_of_the_log(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_session_log(logs, "slow-1", tmp_path, chunks=SLOW_LOAD_EVENTS)
    first = logs / segment_file_name("slow-1", 0)
    with FakeEditor("--vm-exec", ECHO, log_dir=logs, strict=False) as editor:
        editor.initialize()
        request = load(editor, "slow-1", tmp_path)
        editor.wait_for(thread_update)
        with editor._arrived:  # the editor stops reading: the replay waits for room
            editor.notify("$/cancel_request", {"requestId": request})
            deadline = time.monotonic() + 20
            while session_in_use(first):  # the cancelled load closes the log it opened
                assert time.monotonic() < deadline, "the cancelled load kept the log open"
                time.sleep(0.02)
        cancelled = editor.wait_response(request, 60)
        assert cancelled["error"]["code"] == -32800, cancelled
        again = editor.wait_response(load(editor, "slow-1", tmp_path), 60)
        assert again.get("result") == {}, again
        editor.close()


def test_two_loads_of_one_session_at_once_are_served_one_after_the_other(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_session_log(logs, "twice-1", tmp_path, chunks=SLOW_LOAD_EVENTS)
    with FakeEditor("--vm-exec", ECHO, log_dir=logs, strict=False) as editor:
        editor.initialize()
        one = load(editor, "twice-1", tmp_path)
        editor.wait_for(thread_update)
        with editor._arrived:  # the first load is half way, its log open
            two = load(editor, "twice-1", tmp_path)
        assert editor.wait_response(one, 60).get("result") == {}
        assert editor.wait_response(two, 60).get("result") == {}
        answer = editor.call(
            "session/prompt", {"sessionId": "twice-1", "prompt": [{"type": "text", "text": "on"}]}
        )
        assert answer["stopReason"] == "end_turn"
        assert counters_of(editor)["eventlog_open_failures"] == 0
        editor.close()


# --------------------------------------------------------------------------- items 13, 14


def write_listed(logs: Path, cwd: Path) -> list[str]:
    """:data:`LISTED_SESSIONS` logs, session n updated at base + n ms (newest last)."""
    ids = [f"listed-{n:03d}" for n in range(LISTED_SESSIONS)]
    for n, session_id in enumerate(ids):
        write_session_log(logs, session_id, cwd, at_ms=1_700_000_000_000 + n)
    return ids


def all_pages(editor: FakeEditor, between: Any = None) -> list[str]:
    """Page through ``session/list``; ``between(page_number)`` runs before each later page."""
    listed: list[str] = []
    params: dict[str, Any] = {}
    page = 0
    while True:
        result = editor.call("session/list", params)
        assert len(result["sessions"]) <= PAGE
        listed += [s["sessionId"] for s in result["sessions"]]
        if "nextCursor" not in result:
            return listed
        page += 1
        if between is not None:
            between(page)
        params = {"cursor": result["nextCursor"]}


@pytest.mark.parametrize(
    "updated", [249, 180, 10, 0], ids=["page1-first", "page1", "page3", "last"]
)
def test_a_session_updated_between_pages_is_listed_exactly_once(
    tmp_path: Path, updated: int
) -> None:
    logs = tmp_path / "logs"
    ids = write_listed(logs, tmp_path)

    def update(page: int) -> None:
        if page == 1:  # after the first page: the session becomes the newest of all
            write_session_log(logs, ids[updated], tmp_path, at_ms=1_800_000_000_000)

    with FakeEditor("--vm-exec", ECHO, log_dir=logs, strict=False) as editor:
        editor.initialize()
        listed = all_pages(editor, update)
        assert sorted(listed) == sorted(ids)  # every session exactly once
        # A listing started afterwards shows the update first.
        assert editor.call("session/list", {})["sessions"][0]["sessionId"] == ids[updated]
        editor.close()


def test_later_pages_do_not_read_unchanged_logs_again(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_listed(logs, tmp_path)
    with FakeEditor("--vm-exec", ECHO, log_dir=logs, strict=False) as editor:
        editor.initialize()
        io = Path(f"/proc/{editor.proc.pid}/io")

        def reads() -> int:
            return next(
                int(line.split()[1])
                for line in io.read_text().splitlines()
                if line.startswith("syscr")
            )

        before = reads()
        first = editor.call("session/list", {})
        listing = reads() - before
        before = reads()
        editor.call("session/list", {"cursor": first["nextCursor"]})
        second = reads() - before
        assert listing >= LISTED_SESSIONS  # the first page read every log once
        assert second < LISTED_SESSIONS // 5  # the next one read none of them again
        editor.close()


#: Cursors no bridge hands out: not base64url, not the shape, an id it does not serve, ...
FOREIGN_CURSORS = [
    "²",
    "9" * 5_000,
    "",
    "0",
    "100",
    "-1",
    "not a cursor",
    "W10",  # base64url of []
    "WzEsMiwiLi4vZXRjIl0",  # base64url of [1,2,"../etc"]
    "WzEsLTIsIngiXQ",  # base64url of [1,-2,"x"]
    "x" * 600,
]


def test_a_cursor_the_bridge_did_not_hand_out_is_invalid_params(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_session_log(logs, "only-1", tmp_path)
    with FakeEditor("--vm-exec", ECHO, log_dir=logs) as editor:
        editor.initialize()
        for cursor in FOREIGN_CURSORS:
            bad = editor.wait_response(editor.request("session/list", {"cursor": cursor}))
            assert bad["error"]["code"] == -32602, (cursor, bad)
        assert editor.call("session/list", {})["sessions"][0]["sessionId"] == "only-1"
        counters = counters_of(editor)
        assert counters["handler_unexpected_exceptions"] == 0
        assert counters["editor_refused_requests"] == len(FOREIGN_CURSORS)
        editor.close()
        assert editor.problems() == []
