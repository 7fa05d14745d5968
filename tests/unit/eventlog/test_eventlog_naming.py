"""Session ids -> file names: Harn-compatible for plain ids, safe and injective for all.

And which ids are served: every id the bridge hands out or lists finds its own files.
"""

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
    is_session_id,
    listed_session_id,
    log_name_for,
    parse_segment_file_name,
    segment_file_name,
    select_segments,
    torn_file_name,
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


# -- which ids are served: every id the bridge hands out or lists ------------------------

HEX = "0123456789abcdef"
#: uuid4-shaped ids, their last group often all digits (one uuid4 in about 280 is).
UUIDS = st.builds(
    lambda a, b, c, d, e: f"{a}-{b}-4{c}-{d}-{e}",
    st.text(HEX, min_size=8, max_size=8),
    st.text(HEX, min_size=4, max_size=4),
    st.text(HEX, min_size=3, max_size=3),
    st.text(HEX, min_size=4, max_size=4),
    st.one_of(
        st.text("0123456789", min_size=12, max_size=12), st.text(HEX, min_size=12, max_size=12)
    ),
)
#: Ids the bridge serves, crowded near the shapes that read as segment numbers or hashes.
SERVED = st.one_of(
    UUIDS,
    st.text(alphabet="ab0123456789.-_h", min_size=1, max_size=40).filter(is_session_id),
    st.builds(
        lambda p, n: f"{p}-{n}",
        st.sampled_from(["s", "a-b", "x.y"]),
        st.integers(0, 10**13).map(str),
    ),
)
ANY_IDS = st.one_of(SERVED, UUIDS, st.text())


def files_of(session_id: str) -> list[str]:
    """What a log of ``session_id`` leaves in its directory: three segments, a torn file."""
    name = log_name_for(session_id)
    segments = [segment_file_name(name, n) for n in (0, 1, 2)]
    return [*segments, torn_file_name(segments[-1])]


@pytest.mark.parametrize(
    "session_id",
    [
        "0f8fad5b-d9cb-469f-a165-000000000001",
        "7c9e6679-7425-40de-944b-123456789012",
        "16fd2706-8baf-433b-82eb-000001000000",
        "sess-000001",
        "x--h" + "a" * 24,
    ],
)
def test_ids_that_name_their_file_hashed_are_still_served(session_id: str) -> None:
    assert is_session_id(session_id)
    assert not is_plain_session_id(session_id)
    name = log_name_for(session_id)
    assert listed_session_id(name, session_id) == session_id


@pytest.mark.parametrize("session_id", ["", ".", ".x", "../x", "a/b", "a\x00b", "é", "x" * 129])
def test_ids_the_bridge_could_not_have_made_are_not_served(session_id: str) -> None:
    assert not is_session_id(session_id)
    assert listed_session_id(log_name_for(session_id), session_id) is None


@given(st.lists(ANY_IDS, unique=True, min_size=1, max_size=12))
def test_the_files_of_an_id_are_found_for_it_and_for_no_other(ids: list[str]) -> None:
    listing = [file_name for session_id in ids for file_name in files_of(session_id)]
    for session_id in ids:
        name = log_name_for(session_id)
        found = [file_name for _, file_name in select_segments(name, listing)]
        assert found == files_of(session_id)[:3], session_id


@given(SERVED)
def test_every_served_id_is_listed_under_itself_and_loads_its_own_files(session_id: str) -> None:
    name = log_name_for(session_id)
    first = segment_file_name(name, 0)
    assert parse_segment_file_name(first) == (name, 0)
    # Listed from the bridge's own record, and from the file name alone (Harn's logs).
    assert listed_session_id(name, session_id) == session_id
    if is_plain_session_id(session_id):
        assert listed_session_id(name, None) == session_id


@given(UUIDS)
def test_every_uuid4_shaped_id_is_served(session_id: str) -> None:
    assert is_session_id(session_id)


@given(st.text(alphabet="ab0123456789.-_h", min_size=1, max_size=40), st.text(max_size=20))
def test_a_log_is_never_listed_under_an_id_that_would_not_find_it(name: str, recorded: str) -> None:
    listed = listed_session_id(name, recorded)
    assert listed is None or (is_session_id(listed) and log_name_for(listed) == name)
