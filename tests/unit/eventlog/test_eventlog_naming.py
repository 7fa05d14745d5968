"""Session ids -> file names: Harn-compatible for plain ids, safe and injective for all."""

from __future__ import annotations

import re
from itertools import combinations
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acp_bridge.eventlog.naming import (
    harn_sanitise,
    is_log_name,
    is_plain_session_id,
    log_name_for,
    parse_segment_file_name,
    segment_file_name,
    select_segments,
)

SAFE = re.compile(r"[A-Za-z0-9._-]+")
LOG_DIR = Path("/var/empty/logs")

NASTY_IDS = [
    "",
    ".",
    "..",
    "...",
    ".hidden",
    "../x",
    "../../etc/passwd",
    "/abs",
    "/etc/passwd",
    "a/b",
    "a_b",
    "a\\b",
    "a\x00b",
    "\x00",
    "x" * 10_000,
    "x" * 128,
    "x" * 129,
    "é",
    "漢字",
    "🙂",
    "\ud800",
    "sess-000001",
    "sess-0000001",
    "sess",
    "sess-00001",
    "a b",
    "a\nb",
    "C:\\Windows",
    "-",
    "--h" + "0" * 24,
    "x--h" + "a" * 24,
    "_",
]


def assert_safe(name: str) -> None:
    assert SAFE.fullmatch(name), name
    assert len(name) <= 200
    assert not name.startswith(".")
    for segment in (0, 1, 123_456):
        file_name = segment_file_name(name, segment)
        joined = LOG_DIR / file_name
        assert joined.parent == LOG_DIR
        assert Path(file_name).name == file_name
        assert parse_segment_file_name(file_name) == (name, segment)


@pytest.mark.parametrize(
    "session_id", ["sess-1", "7f3c2a9e-1b4d-4c8e-9a55-0d2e6b1f8c33", "a.b_c", "x" * 128, "-a", "a."]
)
def test_plain_ids_keep_harns_file_name(session_id: str) -> None:
    assert is_plain_session_id(session_id)
    assert log_name_for(session_id) == session_id == harn_sanitise(session_id)


@pytest.mark.parametrize("session_id", NASTY_IDS)
def test_every_awkward_id_gets_a_safe_name(session_id: str) -> None:
    assert_safe(log_name_for(session_id))


def test_awkward_ids_get_pairwise_distinct_names() -> None:
    names = [log_name_for(session_id) for session_id in NASTY_IDS]
    for (a, name_a), (b, name_b) in combinations(zip(NASTY_IDS, names, strict=True), 2):
        assert name_a != name_b, (a, b)


def test_non_plain_names_are_readable_and_hashed() -> None:
    name = log_name_for("a/b")
    assert re.fullmatch(r"a_b--h[0-9a-f]{24}", name)
    assert log_name_for("a_b") == "a_b"
    assert log_name_for("..").startswith("__--h")
    assert log_name_for("").startswith("--h")
    assert len(log_name_for("x" * 10_000)) == 64 + 3 + 24


@pytest.mark.parametrize("session_id", ["sess-000001", "sess-1234567", "a--h" + "b" * 24, ".x"])
def test_ids_that_could_be_misread_are_not_plain(session_id: str) -> None:
    assert not is_plain_session_id(session_id)
    assert log_name_for(session_id) != session_id


def test_harn_sanitise_replaces_each_character_outside_the_safe_set() -> None:
    assert harn_sanitise("a/b c.d-e_f🙂") == "a_b_c.d-e_f_"


@given(st.text())
def test_any_text_id_maps_to_a_safe_name(session_id: str) -> None:
    name = log_name_for(session_id)
    assert_safe(name)
    assert is_log_name(name)


@given(st.lists(st.text(), unique=True, max_size=30))
def test_names_are_injective_over_any_text(ids: list[str]) -> None:
    assert len({log_name_for(i) for i in ids}) == len(ids)


@given(st.lists(st.text(alphabet="ab0123456789.-_h/", max_size=16), unique=True, max_size=30))
def test_names_are_injective_near_the_plain_boundary(ids: list[str]) -> None:
    assert len({log_name_for(i) for i in ids}) == len(ids)


def test_segment_file_names_follow_harn() -> None:
    assert segment_file_name("s", 0) == "event_log-s.jsonl"
    assert segment_file_name("s", 1) == "event_log-s-000001.jsonl"
    assert segment_file_name("s", 1_234_567) == "event_log-s-1234567.jsonl"
    with pytest.raises(ValueError, match="segment"):
        segment_file_name("s", -1)


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("event_log-s.jsonl", ("s", 0)),
        ("event_log-s-000002.jsonl", ("s", 2)),
        ("event_log-a-12345-000003.jsonl", ("a-12345", 3)),
        ("event_log-s-000000.jsonl", None),
        ("event_log-s-0000001.jsonl", None),
        ("event_log-s-000001-000002.jsonl", None),
        ("event_log-s.jsonl.torn", None),
        ("event_log-.jsonl", None),
        ("event_log-.hidden.jsonl", None),
        ("event_log-a b.jsonl", None),
        ("events.jsonl", None),
        ("event_log.jsonl", None),
    ],
)
def test_parse_segment_file_name(file_name: str, expected: tuple[str, int] | None) -> None:
    assert parse_segment_file_name(file_name) == expected


def test_select_segments_orders_by_number_and_ignores_other_files() -> None:
    listing = [
        "event_log-s-000010.jsonl",
        "event_log-s.jsonl",
        "event_log-s-000002.jsonl",
        "event_log-s.jsonl.torn",
        "event_log-t.jsonl",
        "event_log-s-x.jsonl",
        "notes.txt",
    ]
    assert select_segments("s", listing) == [
        (0, "event_log-s.jsonl"),
        (2, "event_log-s-000002.jsonl"),
        (10, "event_log-s-000010.jsonl"),
    ]
