"""Fuzzing the log directory: hostile files named like logs, driven through a real bridge.

Hypothesis plants files under ``--log-dir`` with every name shape ``naming`` gives a log
(a first segment, numbered segments, their ``.torn`` files, names no id leads to, names
that only look like segments) and every kind a neighbour can leave there: symbolic links
(to a file outside, to ``/dev/zero``, dangling, looping, to a directory), hard links to a
file outside, FIFOs, directories, sockets, character devices, files made unreadable, and
regular files whose contents are torn, garbage, invalid UTF-8, nested deep, huge, or with
duplicate and missing indexes. Then a real bridge, over pipes, lists every page, and
loads, resumes, closes and deletes every id it listed and every id planted.

Properties: the bridge never exits or hangs (every answer within a bound, exit 0 at EOF);
every request gets exactly one answer and everything it writes is strictly valid ACP
JSON-RPC (``TranscriptChecker``); nothing outside the log directory is created, removed,
truncated, written, or has its mode changed; a special file is reported on stderr, named,
never followed (a link's target holds a log that would be listed if it were read).

The bridge runs as whoever runs the tests. As root (containers, CI), ``chmod 000`` denies
nothing, so an "unreadable" file is then simply read; the property still holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import Phase, given
from hypothesis import strategies as st
from support.editor import FakeEditor
from support.fuzz_budget import fuzz_settings

from acp_bridge.eventlog.naming import (
    log_name_for,
    parse_segment_file_name,
    segment_file_name,
    torn_file_name,
)
from acp_bridge.eventlog.records import (
    encode_record,
    prompt_record,
    session_record,
    turn_ended_record,
)

#: How long one request may take before the bridge counts as hung.
ANSWER_TIMEOUT = 30.0
#: How many ``session/list`` pages are followed at most (a loop of cursors is a failure).
MAX_PAGES = 50
AT_MS = 1_700_000_000_000

#: Ids whose logs are planted: plain (a uuid4, a short one), named hashed (a uuid4 whose
#: last group is all digits, a path-like id, a long one), and one at the edge of plain.
IDS = [
    "3f2b8c1e-9d4a-4e6b-8f0a-5c7d9e1b2a3c",
    "7c9e6679-7425-40de-944b-123456789012",
    "plain",
    "a/b c",
    "x" * 128,
    "segment-12345",
]
#: Names that look like a log's but that no id leads to, or that do not parse at all.
STRAY_NAMES = [
    "event_log-orphan--h0123456789abcdef01234567.jsonl",
    "event_log-plain-000000.jsonl",
    "event_log-plain-0000001.jsonl",
    "event_log-.hidden.jsonl",
    "event_log-.jsonl",
    "event_log-plain.jsonl.lock",
    "event_log-plain.jsonl.torn.torn",
]

# --------------------------------------------------------------------------- contents


def record(index: int, event: dict[str, Any]) -> bytes:
    return encode_record(index, AT_MS + index, None, event)


def deep_line(depth: int) -> bytes:
    body = b"[" * depth + b"]" * depth
    return b'{"index":0,"type":"agent_message_chunk","content":' + body + b"}\n"


DEEP_LEVELS = st.sampled_from([300, 1025, 20_000])
HUGE_BYTES = st.sampled_from([300 * 1024, 1024 * 1024 + 7])


def _chunk(session_id: str, text: str) -> dict[str, Any]:
    return {"type": "agent_message_chunk", "session_id": session_id, "content": text}


#: How each kind of line is made: ``(draw, session id, index) -> line``.
LINES: dict[str, Any] = {
    "session": lambda d, sid, i: record(i, session_record(sid, "/", [], [])),
    "prompt": lambda d, sid, i: record(i, prompt_record(sid, [{"type": "text", "text": "hi"}])),
    "chunk": lambda d, sid, i: record(i, _chunk(sid, "t")),
    "turn_end": lambda d, sid, i: record(i, turn_ended_record(sid, "end_turn")),
    "duplicate": lambda d, sid, i: record(i, turn_ended_record(sid, None)),
    "gap": lambda d, sid, i: record(i, turn_ended_record(sid, "end_turn")),
    "garbage": lambda d, sid, i: d(st.binary(max_size=40)).replace(b"\n", b"") + b"\n",
    "utf8": lambda d, sid, i: (
        b'{"index":%d,"type":"agent_message_chunk","content":"\xff\xfe"}\n' % i
    ),
    "deep": lambda d, sid, i: deep_line(d(DEEP_LEVELS)),
    "huge": lambda d, sid, i: record(i, _chunk(sid, "h" * d(HUGE_BYTES))),
    # a log that claims to be another session's
    "foreign": lambda d, sid, i: record(i, session_record("someone-else", "/", [], [])),
    # a raw event line, without an envelope (as Harn's own logs may have)
    "harn": lambda d, sid, i: b'{"type":"agent_message_chunk","content":"raw"}\n',
    "blank": lambda d, sid, i: d(st.sampled_from([b"\n", b"\r\n", b" \n"])),
    "nul": lambda d, sid, i: b"\x00" * d(st.integers(1, 16)) + b"\n",
}
#: Where a kind of line puts its index, from the one due: back one, or past a gap.
INDEX_SHIFT = {"duplicate": -1, "gap": 3}


@st.composite
def contents(draw: st.DrawFn, session_id: str) -> bytes:
    """The bytes of a planted segment: records of ``session_id``, damaged at will."""
    kinds = draw(st.lists(st.sampled_from(sorted(LINES)), max_size=8))
    if draw(st.booleans()):
        kinds.insert(0, "session")
    index = draw(st.sampled_from([0, 0, 5]))
    out: list[bytes] = []
    for kind in kinds:
        index = max(0, index + INDEX_SHIFT.get(kind, 0))
        out.append(LINES[kind](draw, session_id, index))
        index += 1
    body = b"".join(out)
    if body and draw(st.booleans()):  # torn: cut anywhere, or a tail with no newline
        body = body[: draw(st.integers(0, len(body)))] + draw(st.sampled_from([b"", b'{"ind']))
    return body


# --------------------------------------------------------------------------- planting

#: What sits at a name: a regular file (with contents) or one of the hostile kinds.
KINDS = [
    "regular",
    "regular",
    "regular",
    "link_to_outside_log",
    "link_to_dev_zero",
    "link_dangling",
    "link_loop",
    "link_to_directory",
    "link_inside",
    "hardlink_to_outside",
    "fifo",
    "directory",
    "socket",
    "chardev",
    "unreadable",
]


@dataclass(frozen=True, repr=False)
class Plant:
    """One file planted under the log directory."""

    file_name: str
    kind: str
    body: bytes
    session_id: str | None  # the id whose log name the file carries, if any

    def __repr__(self) -> str:
        """Short, whatever the body's size: a failing example stays readable."""
        body = self.body[:120] + (b"..." if len(self.body) > 120 else b"")
        return f"Plant({self.file_name!r}, {self.kind!r}, <{len(self.body)} bytes> {body!r})"


@st.composite
def plants(draw: st.DrawFn) -> list[Plant]:
    """Up to 8 planted files; later ones at a taken name are dropped."""
    out: dict[str, Plant] = {}
    for _ in range(draw(st.integers(1, 8))):
        if draw(st.integers(0, 5)) == 0:
            file_name, session_id = draw(st.sampled_from(STRAY_NAMES)), None
        else:
            session_id = draw(st.sampled_from(IDS))
            segment = draw(st.sampled_from([0, 0, 0, 1, 2]))
            file_name = segment_file_name(log_name_for(session_id), segment)
            if draw(st.integers(0, 3)) == 0:
                file_name = torn_file_name(file_name)
        kind = draw(st.sampled_from(KINDS))
        body = draw(contents(session_id or "plain")) if kind in ("regular", "unreadable") else b""
        out.setdefault(file_name, Plant(file_name, kind, body, session_id))
    return list(out.values())


def outside_log(session_id: str) -> bytes:
    """A whole, valid log: listed (and loadable) if the bridge ever read it."""
    return b"".join(
        [
            record(0, session_record(session_id, "/outside", [], [])),
            record(1, prompt_record(session_id, [{"type": "text", "text": "read outside"}])),
            b'{"index":2,"type":"turn_ended"',  # torn: recovery would cut it off the target
        ]
    )


def plant(logs: Path, outside: Path, item: Plant, number: int) -> None:
    """Make ``item`` under ``logs``; what it leads to goes under ``outside``."""
    path = logs / item.file_name
    kind = item.kind
    if kind in ("regular", "unreadable"):
        path.write_bytes(item.body)
        path.chmod(0o000 if kind == "unreadable" else 0o644)
    elif kind.startswith(("link", "hardlink")):
        _plant_link(path, outside, item, number)
    elif kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "directory":
        path.mkdir()
        (path / "inside").write_bytes(b"x\n")
    elif kind == "socket":
        _plant_socket(path)
    else:  # "chardev": /dev/zero's numbers; without CAP_MKNOD, a FIFO stands in
        try:
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))
        except PermissionError:
            os.mkfifo(path, 0o600)


def _plant_link(path: Path, outside: Path, item: Plant, number: int) -> None:
    kind = item.kind
    if kind in ("link_to_outside_log", "hardlink_to_outside"):
        target = outside / f"target-{number}"
        target.write_bytes(outside_log(item.session_id or "plain"))
        target.chmod(0o644)
        if kind == "hardlink_to_outside":
            os.link(target, path)
        else:
            path.symlink_to(target)
    elif kind == "link_to_dev_zero":
        path.symlink_to("/dev/zero")
    elif kind == "link_dangling":
        path.symlink_to(outside / f"missing-{number}")
    elif kind == "link_loop":
        path.symlink_to(path.name)
    elif kind == "link_to_directory":
        path.symlink_to(outside)
    else:  # "link_inside": to a file beside it, or to itself
        path.symlink_to(next(iter(sorted(os.listdir(path.parent))), path.name))


def _plant_socket(path: Path) -> None:
    """A listening-less Unix socket at ``path`` (bound in a short place, then renamed)."""
    with tempfile.TemporaryDirectory(dir="/tmp") as short:
        at = Path(short) / "s"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.bind(str(at))
        at.rename(path)


# --------------------------------------------------------------------------- outside


def snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    """Everything outside the log directory a bridge could change: names, kinds, bytes."""
    found: dict[str, tuple[Any, ...]] = {}
    for top, dirs, files in os.walk(root):
        if Path(top) == root:
            dirs[:] = [d for d in dirs if d != "logs"]
        for name in [*dirs, *files]:
            path = Path(top) / name
            info = os.lstat(path)
            digest = None
            if stat.S_ISREG(info.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(root))] = (
                stat.S_IFMT(info.st_mode),
                stat.S_IMODE(info.st_mode),
                info.st_size,
                info.st_mtime_ns,
                digest,
            )
    return found


# --------------------------------------------------------------------------- the editor


def answer(editor: FakeEditor, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """Send one request; its answer, which must come within :data:`ANSWER_TIMEOUT`."""
    assert editor.proc.poll() is None, f"the bridge exited before {method}"
    return editor.wait_response(editor.request(method, params), ANSWER_TIMEOUT)


def list_all(editor: FakeEditor) -> list[str]:
    """Every id ``session/list`` shows, following every page."""
    ids: list[str] = []
    params: dict[str, Any] = {}
    for _ in range(MAX_PAGES):
        reply = answer(editor, "session/list", params)
        assert "result" in reply, reply
        ids += [s["sessionId"] for s in reply["result"]["sessions"]]
        cursor = reply["result"].get("nextCursor")
        if cursor is None:
            return ids
        params = {"cursor": cursor}
    raise AssertionError(f"session/list handed out over {MAX_PAGES} cursors")


def is_special(item: Plant) -> bool:
    return item.kind not in ("regular", "unreadable")


# No shrinking: each example runs a bridge, and shrinking one took over five minutes; a
# failing example prints short (Plant's repr) and reproduces with its seed.
@fuzz_settings(10, phases=[Phase.explicit, Phase.generate])
@given(plants())
def test_a_hostile_log_directory_never_wedges_fools_or_escapes_the_bridge(
    planted: list[Plant],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        logs, outside = root / "logs", root / "outside"
        logs.mkdir(mode=0o700)
        outside.mkdir()
        (outside / "keep").write_bytes(b"untouched\n")
        for number, item in enumerate(planted):
            plant(logs, outside, item, number)
        before = snapshot(root)
        with FakeEditor("--vm-exec", "true", log_dir=logs) as editor:
            assert "result" in answer(editor, "initialize", {"protocolVersion": 1})
            listed = list_all(editor)
            assert len(listed) == len(set(listed)), listed
            assert "/outside" not in json.dumps(editor.messages), "a link was followed"
            tried = list(dict.fromkeys([*listed, *IDS]))
            for session_id in tried:
                where = {"sessionId": session_id, "cwd": str(root), "mcpServers": []}
                loaded = answer(editor, "session/load", where)
                if session_id in listed:
                    assert "result" in loaded, ("listed but not loadable", loaded)
                answer(editor, "session/resume", where)
                answer(editor, "session/close", {"sessionId": session_id})
                deleted = answer(editor, "session/delete", {"sessionId": session_id})
                assert "result" in deleted, deleted
            list_all(editor)
            status = answer(editor, "_acp_bridge/status", {})
            assert "result" in status, status
            assert editor.close(ANSWER_TIMEOUT) == 0, editor.stderr_lines[-20:]
            problems = editor.problems()
            stderr = "\n".join(editor.stderr_lines)
        assert problems == [], problems
        assert "Traceback" not in stderr, stderr[-4000:]
        assert snapshot(root) == before, "something outside the log directory changed"
        for item in planted:
            parsed = parse_segment_file_name(item.file_name)
            if is_special(item) and parsed is not None and parsed[1] == 0:
                assert item.file_name in stderr, (item, stderr[-4000:])
                assert status["result"]["counters"]["eventlog_unsafe_files"] > 0
