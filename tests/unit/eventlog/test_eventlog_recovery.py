"""Backward line scanning used to resume a log, checked against a plain split."""

from __future__ import annotations

import os
import tempfile

from hypothesis import given
from hypothesis import strategies as st

from acp_bridge.eventlog.records import encode_record
from acp_bridge.eventlog.recovery import end_of_last_line, lines_backwards, scan_last_index


def with_file(data: bytes) -> int:
    fd, name = tempfile.mkstemp()
    os.unlink(name)
    os.write(fd, data)
    return fd


def expected_lines(data: bytes) -> list[tuple[int, bytes]]:
    complete = data[: data.rfind(b"\n") + 1]
    offset, out = 0, []
    for line in complete.split(b"\n")[:-1]:
        out.append((offset, line))
        offset += len(line) + 1
    return out[::-1]


@given(st.binary(max_size=60).map(lambda b: b.replace(b"\x00", b"\n")), st.integers(1, 9))
def test_lines_backwards_matches_a_plain_split(data: bytes, chunk: int) -> None:
    fd = with_file(data)
    try:
        assert list(lines_backwards(fd, len(data), chunk=chunk)) == expected_lines(data)
        assert end_of_last_line(fd, len(data), chunk=chunk) == data.rfind(b"\n") + 1
    finally:
        os.close(fd)


def test_scan_last_index_skips_lines_without_a_usable_index() -> None:
    data = (
        encode_record(0, 1, None, {"type": "a"})
        + encode_record(1, 1, None, {"type": "b"})
        + b'{"type":"raw"}\n'
        + b"junk\n"
        + b"torn"
    )
    fd = with_file(data)
    try:
        scan = scan_last_index(fd, len(data))
    finally:
        os.close(fd)
    assert (scan.index, scan.corrupt, scan.unindexed) == (1, 1, 1)
    junk_at = data.index(b"junk")
    assert scan.first_problem is not None
    assert scan.first_problem.startswith(f"byte {junk_at}: not JSON")


def test_scan_last_index_of_an_empty_file_finds_nothing() -> None:
    fd = with_file(b"")
    try:
        assert scan_last_index(fd, 0).index is None
    finally:
        os.close(fd)
