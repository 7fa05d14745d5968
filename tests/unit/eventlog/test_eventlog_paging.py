"""Paging ``session/list``: every session exactly once, however sessions change between pages."""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acp_bridge.eventlog.paging import (
    MAX_SNAPSHOTS,
    Cursor,
    Page,
    Pager,
    decode_cursor,
    encode_cursor,
    sort_key,
)


@dataclass(frozen=True)
class Entry:
    session_id: str
    updated_at_ms: int | None


def listing(entries: list[Entry]) -> list[Entry]:
    return sorted(entries, key=sort_key)


def one_page(
    pager: Pager, current: list[Entry], cursor: str | None, scope: str | None = None
) -> Page[Entry]:
    """A page as the registry makes it: from the snapshot if kept, else from a listing."""
    plan = None if cursor is None else pager.plan(cursor, scope)
    if plan is None:
        return pager.page(listing(current), scope, cursor)
    return pager.finish(plan, {e.session_id: e for e in current})


def page_through(pager: Pager, current: list[Entry], change: object = None) -> list[str]:
    """Every id the pages give; ``change(entries, page)`` may alter the listing between pages."""
    seen: list[str] = []
    cursor = None
    page = 0
    while True:
        result = one_page(pager, current, cursor)
        assert len(result.entries) <= pager.page_size
        seen += [e.session_id for e in result.entries]
        if result.next_cursor is None:
            return seen
        page += 1
        if callable(change):
            current = change(current, page)
        cursor = result.next_cursor


def entries(count: int) -> list[Entry]:
    return [Entry(f"s-{n:03d}", 1_000 + n) for n in range(count)]


def test_pages_go_newest_first_without_an_update() -> None:
    current = entries(250)
    assert page_through(Pager(100), current) == [e.session_id for e in listing(current)]


@given(
    st.lists(st.integers(0, 249), max_size=20),
    st.lists(st.integers(0, 249), max_size=5),
    st.integers(1, 60),
)
def test_updates_and_deletes_between_pages_never_skip_or_repeat(
    updated: list[int], deleted: list[int], page_size: int
) -> None:
    original = entries(250)
    gone = {original[n].session_id for n in deleted}
    stamp = iter(range(10_000, 20_000))

    def change(current: list[Entry], page: int) -> list[Entry]:
        if page != 1:
            return current
        bumped = {original[n].session_id for n in updated}
        return [
            replace(e, updated_at_ms=next(stamp)) if e.session_id in bumped else e
            for e in current
            if e.session_id not in gone
        ]

    seen = page_through(Pager(page_size), original, change)
    assert len(seen) == len(set(seen))
    assert set(seen) >= {e.session_id for e in original} - gone
    assert set(seen) <= {e.session_id for e in original}


def test_a_cursor_whose_snapshot_is_gone_goes_on_after_its_key() -> None:
    current = listing(entries(250))
    pager = Pager(100, max_snapshots=MAX_SNAPSHOTS)
    first = pager.page(current, None, None)
    assert first.next_cursor is not None
    for _ in range(MAX_SNAPSHOTS):
        pager.page(current, None, None)  # newer listings push the first one's snapshot out
    assert pager.plan(first.next_cursor, None) is None  # its snapshot is gone
    rest = Pager(100).page(current, None, first.next_cursor)  # a bridge restarted, too
    assert [e.session_id for e in rest.entries] == [e.session_id for e in current[100:200]]
    assert rest.next_cursor is not None
    last = Pager(100).page(current, None, rest.next_cursor)
    assert [e.session_id for e in last.entries] == [e.session_id for e in current[200:]]
    assert last.next_cursor is None


def test_a_cursor_of_another_cwd_goes_on_by_its_key() -> None:
    current = listing(entries(150))
    pager = Pager(100)
    first = pager.page(current, "/a", None)
    assert first.next_cursor is not None
    assert pager.plan(first.next_cursor, "/b") is None
    other = pager.page(current, "/b", first.next_cursor)
    assert [e.session_id for e in other.entries] == [e.session_id for e in current[100:]]


def test_one_page_has_no_cursor() -> None:
    assert Pager(100).page(listing(entries(100)), None, None).next_cursor is None
    assert Pager(100).page([], None, None).next_cursor is None


@given(
    st.integers(0, 2**53 - 1),
    st.integers(0, 2**53 - 1),
    st.sampled_from(["s", "a-000001", "x.y_z"]),
)
def test_cursors_round_trip(snapshot: int, updated: int, session_id: str) -> None:
    cursor = Cursor(snapshot, (-updated, session_id))
    assert decode_cursor(encode_cursor(cursor)) == cursor


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "text",
    [
        "²",
        "9" * 5_000,
        "",
        "0",
        "100",
        "a b",
        b64("[]"),
        b64('[1,2,"../etc"]'),
        b64('[1,-2,"x"]'),
        b64('[true,2,"x"]'),
        b64('[1,2.0,"x"]'),
        b64('[1, 2, "x"]'),  # not the canonical form
        b64('[1,2,"x"]') + "=",
        b64('{"a":1}'),
        b64('[1,2,"' + "x" * 129 + '"]'),
        b64('[1,9007199254740992,"x"]'),
        "x" * 600,
        7,
        None,
    ],
)
def test_anything_else_is_not_a_cursor(text: object) -> None:
    with pytest.raises(ValueError, match="not a cursor"):
        decode_cursor(text)


@given(st.text(max_size=80))
def test_no_text_raises_anything_but_value_error(text: str) -> None:
    try:
        decode_cursor(text)
    except ValueError:
        return
