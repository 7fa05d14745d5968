"""Paging ``session/list``: cursors that hold when sessions change between pages.

Rule: nothing here performs I/O; the catalogue's entries come in, pages go out.

The listing's order is newest first (``updatedAt`` descending, then session id), and it
changes whenever a session is updated: an offset into it would then skip one session and
repeat another. So the first page takes a snapshot of the order, and every later page goes
on in that snapshot after the last session it gave, each shown with what it says now (a
session deleted meanwhile is left out; one created meanwhile waits for the next listing).
Each session thus appears exactly once, however the sessions change between pages.

Snapshots are kept for the latest :data:`MAX_SNAPSHOTS` listings. A cursor whose snapshot
is gone (a bridge restarted, many listings since) still holds the sort key of the last
session it gave, and its page goes on after that key in the current order (taking a new
snapshot from there).

A cursor is opaque to the editor: the base64url form (no padding) of the compact JSON
``[snapshot, updated_ms, session_id]``. Anything else (not that alphabet, too long, not
that shape, an id the bridge does not serve, not in canonical form) is refused with
``ValueError``, which the registry answers ``-32602``.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import itertools
import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Generic, Protocol, TypeVar

from acp_bridge.eventlog.naming import is_session_id

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

PAGE_SIZE: Final = 100
MAX_SNAPSHOTS: Final = 16
#: Longer than any cursor this module makes (the id is at most 128 characters).
MAX_CURSOR_CHARS: Final = 512
_MAX_NUMBER: Final = 2**53
_CURSOR_CHARS: Final = re.compile(r"[A-Za-z0-9_-]+")

#: Where an entry sorts: ``(-updated_ms, session_id)``, ascending is newest first.
SortKey = tuple[int, str]


class Listed(Protocol):
    """What paging needs of a catalogue entry."""

    @property
    def session_id(self) -> str:
        """The session's id."""
        ...

    @property
    def updated_at_ms(self) -> int | None:
        """When it was last updated."""
        ...


E = TypeVar("E", bound=Listed)


def sort_key(entry: Listed) -> SortKey:
    """Where ``entry`` sorts in a listing (newest first, then by id)."""
    return -(entry.updated_at_ms or 0), entry.session_id


@dataclass(frozen=True, slots=True)
class Cursor:
    """A decoded cursor: the snapshot it continues and the sort key of the last entry given."""

    snapshot: int
    after: SortKey


def encode_cursor(cursor: Cursor) -> str:
    """The opaque text of a cursor."""
    data = json.dumps([cursor.snapshot, -cursor.after[0], cursor.after[1]], separators=(",", ":"))
    return base64.urlsafe_b64encode(data.encode("ascii")).rstrip(b"=").decode("ascii")


def decode_cursor(text: object) -> Cursor:
    """Read a cursor this module made.

    Raises:
        ValueError: ``text`` is not one (see the module docstring).
    """
    if not isinstance(text, str) or not 0 < len(text) <= MAX_CURSOR_CHARS:
        raise ValueError("not a cursor")
    if not _CURSOR_CHARS.fullmatch(text):
        raise ValueError("not a cursor")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        value = json.loads(raw.decode("ascii"))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("not a cursor") from None
    if not (isinstance(value, list) and len(value) == 3):
        raise ValueError("not a cursor")
    snapshot, updated_ms, session_id = value
    for number in (snapshot, updated_ms):
        if type(number) is not int or not 0 <= number < _MAX_NUMBER:
            raise ValueError("not a cursor")
    if not isinstance(session_id, str) or not is_session_id(session_id):
        raise ValueError("not a cursor")
    cursor = Cursor(snapshot, (-updated_ms, session_id))
    if encode_cursor(cursor) != text:
        raise ValueError("not a cursor")
    return cursor


@dataclass(frozen=True, slots=True)
class _Snapshot:
    scope: str | None  # the cwd the listing was for
    keys: tuple[SortKey, ...]  # its order, ascending (newest first)


@dataclass(frozen=True, slots=True)
class Plan:
    """A later page to show from a kept snapshot (see :meth:`Pager.plan`).

    Attributes:
        snapshot: The snapshot's number.
        keys: The page's sessions as the snapshot has them, in order.
        more: Sessions follow them in the snapshot.
    """

    snapshot: int
    keys: tuple[SortKey, ...]
    more: bool


@dataclass(slots=True)
class Page(Generic[E]):
    """One page: its entries and the cursor of the next page (None: this is the last)."""

    entries: list[E]
    next_cursor: str | None


class Pager:
    """Pages through listings with stable cursors (one per bridge)."""

    def __init__(self, page_size: int = PAGE_SIZE, max_snapshots: int = MAX_SNAPSHOTS) -> None:
        """No snapshots yet."""
        self.page_size = page_size
        self.max_snapshots = max_snapshots
        self._snapshots: OrderedDict[int, _Snapshot] = OrderedDict()
        self._ids = itertools.count(1)

    def plan(self, cursor: str, scope: str | None) -> Plan | None:
        """What a later page holds, when its snapshot is kept: the keys to show.

        The caller then looks up what those sessions say now and calls :meth:`finish`;
        so a later page costs a look at its own sessions only, not a listing of all.

        Returns:
            None when the cursor's snapshot is gone (or was for another scope): the page
            is then :meth:`page` of the current listing.

        Raises:
            ValueError: ``cursor`` is not one this bridge could have given.
        """
        decoded = decode_cursor(cursor)
        snapshot = self._snapshots.get(decoded.snapshot)
        if snapshot is None or snapshot.scope != scope:
            return None
        self._snapshots.move_to_end(decoded.snapshot)
        at = bisect.bisect_right(snapshot.keys, decoded.after)
        keys = snapshot.keys[at : at + self.page_size]
        return Plan(decoded.snapshot, keys, at + self.page_size < len(snapshot.keys))

    def finish(self, plan: Plan, now: Mapping[str, E]) -> Page[E]:
        """The page ``plan`` asked for, given what its sessions say ``now`` (by id).

        A session missing from ``now`` was deleted since the snapshot: it is left out.
        """
        given = [now[key[1]] for key in plan.keys if key[1] in now]
        if not plan.more or not plan.keys:
            return Page(given, None)
        return Page(given, encode_cursor(Cursor(plan.snapshot, plan.keys[-1])))

    def page(self, entries: Sequence[E], scope: str | None, cursor: str | None) -> Page[E]:
        """The first page of a listing, or a later one whose snapshot is gone.

        Args:
            entries: Every entry listed now for ``scope``, in :func:`sort_key` order.
            scope: What the listing is for (its cwd filter): a snapshot serves one scope.
            cursor: None for the first page; else a cursor :meth:`plan` had no snapshot
                for, whose page goes on after its key in ``entries``.

        Raises:
            ValueError: ``cursor`` is not one this bridge could have given.
        """
        keys = [sort_key(e) for e in entries]
        if cursor is None:
            return self._from(entries, scope, keys, 0)
        after = decode_cursor(cursor).after
        return self._from(entries, scope, keys, bisect.bisect_right(keys, after))

    def _from(
        self, entries: Sequence[E], scope: str | None, keys: list[SortKey], at: int
    ) -> Page[E]:
        """The page from position ``at`` of the current order, snapshotting what follows."""
        given = list(entries[at : at + self.page_size])
        if at + self.page_size >= len(entries):
            return Page(given, None)
        number = next(self._ids)
        self._snapshots[number] = _Snapshot(scope, tuple(keys[at:]))
        while len(self._snapshots) > self.max_snapshots:
            self._snapshots.popitem(last=False)
        return Page(given, encode_cursor(Cursor(number, keys[at + self.page_size - 1])))
