"""Session id -> log file names, and back.

Rule: nothing here performs I/O; these are string functions only.

Harn names a session's log ``event_log-<session>.jsonl`` after replacing every character
outside ``[A-Za-z0-9._-]`` with ``_``. That rule alone is lossy (``a/b`` and ``a_b`` share a
file) and lets ``.``/``..`` through, so the bridge keeps it only for *plain* ids and gives
every other id a hashed name:

- plain id (1..128 characters, all in ``[A-Za-z0-9._-]``, not starting with ``.``, not ending
  in ``-`` + 6 or more digits, not ending in the hashed-form suffix): the name is the id,
  exactly as Harn would name it;
- any other id: ``<Harn-sanitised id, first 64 chars, leading dots as _>--h<24 hex>``, the hex
  being the start of SHA-256 over the id's UTF-8 bytes (lone surrogates kept via
  ``surrogatepass``).

So names are injective (a plain name never ends like a hashed one, and hashed names differ
in their 96-bit digest), contain only ``[A-Za-z0-9._-]``, never start with ``.``, are at
most 128 characters, and never end in something that reads as a segment number. Joined to
a directory they cannot escape it.

Which ids the bridge serves is a rule of its own (:func:`is_session_id`), not the naming
rule: every id of 1..128 characters of ``[A-Za-z0-9._-]`` not starting with ``.``, whether
it names its file plainly or hashed. It takes in every id the bridge hands out (a uuid4,
even one whose last group is all digits and so is named hashed) and every id it lists
(:func:`listed_session_id` lists a log only under an id whose name is the log's own), so
whatever ``session/list`` shows can be loaded, resumed, closed and deleted.

A segment's torn last lines, cut off when the log is reopened, are kept beside it in
``<segment file name>.torn`` (``torn_file_name``).
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterable

FILE_PREFIX: Final = "event_log-"
FILE_SUFFIX: Final = ".jsonl"
TORN_SUFFIX: Final = ".torn"
MAX_PLAIN_ID_CHARS: Final = 128
HASHED_PREFIX_CHARS: Final = 64
HASH_HEX_CHARS: Final = 24

_SAFE_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
# A segment number is written with at least 6 digits; ids ending like one are not plain.
_SEGMENT_SUFFIX: Final = re.compile(r"-([0-9]{6,})\Z")
_HASHED_SUFFIX: Final = re.compile(rf"--h[0-9a-f]{{{HASH_HEX_CHARS}}}\Z")
_LEADING_DOTS: Final = re.compile(r"\A\.+")


def harn_sanitise(session_id: str) -> str:
    """Apply Harn's own rule: every character outside ``[A-Za-z0-9._-]`` becomes ``_``."""
    return "".join(c if c in _SAFE_CHARS else "_" for c in session_id)


def is_plain_session_id(session_id: str) -> bool:
    """Tell whether ``session_id`` names its log file as it is (see the module docstring)."""
    return (
        0 < len(session_id) <= MAX_PLAIN_ID_CHARS
        and all(c in _SAFE_CHARS for c in session_id)
        and not session_id.startswith(".")
        and _SEGMENT_SUFFIX.search(session_id) is None
        and _HASHED_SUFFIX.search(session_id) is None
    )


def is_session_id(session_id: str) -> bool:
    """Tell whether the bridge serves ``session_id`` (load, resume, close, delete).

    True for 1..128 characters of ``[A-Za-z0-9._-]`` not starting with ``.``: every id the
    bridge makes and every id it lists. Ids outside it (``../x``, NUL, 10 kB) are refused
    before any file is looked for; inside it, the files are ``log_name_for``'s.
    """
    return (
        0 < len(session_id) <= MAX_PLAIN_ID_CHARS
        and not session_id.startswith(".")
        and all(c in _SAFE_CHARS for c in session_id)
    )


def listed_session_id(name: str, recorded: object) -> str | None:
    """The id a log named ``name`` is listed under, or None when no served id finds it.

    Args:
        name: The log's name (``parse_segment_file_name``'s first part).
        recorded: The id its opening record names (the bridge's logs), or None (Harn's
            logs, named after their session).

    Returns:
        ``recorded`` when it is a served id whose files are this log's, else ``name`` when
        it is one, else None (a log renamed, or named so that no id leads to it).
    """
    for candidate in (recorded, name):
        if (
            isinstance(candidate, str)
            and is_session_id(candidate)
            and log_name_for(candidate) == name
        ):
            return candidate
    return None


def log_name_for(session_id: str) -> str:
    """Return the file-name part for a session's log.

    Args:
        session_id: Any text, including empty, path-like or non-ASCII ids.

    Returns:
        The id itself when it is plain, else its hashed name; safe to join to a directory.
    """
    if is_plain_session_id(session_id):
        return session_id
    digest = hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()
    prefix = harn_sanitise(session_id)[:HASHED_PREFIX_CHARS]
    prefix = _LEADING_DOTS.sub(lambda m: "_" * len(m.group()), prefix)
    return f"{prefix}--h{digest[:HASH_HEX_CHARS]}"


def is_log_name(name: str) -> bool:
    """Tell whether ``name`` is of the shape ``log_name_for`` produces (plain or hashed)."""
    return is_plain_session_id(name) or (
        all(c in _SAFE_CHARS for c in name)
        and not name.startswith(".")
        and _HASHED_SUFFIX.search(name) is not None
        and len(name) <= HASHED_PREFIX_CHARS + 3 + HASH_HEX_CHARS
    )


def segment_file_name(name: str, segment: int) -> str:
    """Return the file name of one segment: ``event_log-<name>.jsonl`` or ``...-000001.jsonl``.

    Raises:
        ValueError: ``segment`` is negative.
    """
    if segment < 0:
        raise ValueError(f"segment number must be >= 0, got {segment}")
    if segment == 0:
        return f"{FILE_PREFIX}{name}{FILE_SUFFIX}"
    return f"{FILE_PREFIX}{name}-{segment:06d}{FILE_SUFFIX}"


def torn_file_name(segment_file: str) -> str:
    """Return the name of the file that keeps the torn lines cut off a segment file."""
    return segment_file + TORN_SUFFIX


def parse_segment_file_name(file_name: str) -> tuple[str, int] | None:
    """Split a segment file name into ``(name, segment)``.

    Returns:
        ``None`` for anything ``segment_file_name`` would not produce from a valid name
        (other files, non-canonical numbers such as ``-000000`` or ``-0000001``).
    """
    if not (file_name.startswith(FILE_PREFIX) and file_name.endswith(FILE_SUFFIX)):
        return None
    stem = file_name[len(FILE_PREFIX) : -len(FILE_SUFFIX)]
    name, segment = stem, 0
    match = _SEGMENT_SUFFIX.search(stem)
    if match is not None:
        name, segment = stem[: match.start()], int(match.group(1))
        if segment == 0 or match.group(1) != f"{segment:06d}":
            return None
    if not is_log_name(name):
        return None
    return name, segment


def select_segments(name: str, file_names: Iterable[str]) -> list[tuple[int, str]]:
    """Pick one log's segment files out of a directory listing.

    Args:
        name: The log name (``log_name_for(session_id)``).
        file_names: Names of the files in the log directory.

    Returns:
        ``(segment, file_name)`` pairs ordered by segment number.
    """
    found = []
    for file_name in file_names:
        parsed = parse_segment_file_name(file_name)
        if parsed is not None and parsed[0] == name:
            found.append((parsed[1], file_name))
    return sorted(found)
