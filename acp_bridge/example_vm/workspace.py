"""The project the example agent looks at: which file to read, and what it says.

:func:`find_file` picks the file (a README, else the first small text file of a bounded,
breadth-first scan that never leaves the session's directory); :func:`summarise_file` and
:func:`summarise_text` read it into a :class:`FileSummary`.

Rule: the scan is bounded (entries, depth, bytes sniffed) and follows no symlink, so it
stays quick and inside ``cwd`` whatever the directory holds; a file it cannot read is
skipped, never an error.
"""

from __future__ import annotations

import codecs
import itertools
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

PREVIEW_LINES: Final = 40
MAX_READ_BYTES: Final = 1024 * 1024  # beyond this the line count is a lower bound
SMALL_FILE_BYTES: Final = 64 * 1024  # the scan's idea of "small"
SNIFF_BYTES: Final = 4096  # how much of a candidate the scan reads to call it text
SCAN_MAX_ENTRIES: Final = 2000
SCAN_MAX_DEPTH: Final = 3
SKIP_DIRS: Final = frozenset({"node_modules", "__pycache__", "venv", "target", "build", "dist"})

_ATX_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$")
_UNDERLINE = re.compile(r"^\s{0,3}(=+|-+|~+|\^+|\*+)\s*$")


@dataclass(frozen=True, slots=True)
class FileSummary:
    """What the example agent learnt from reading a file."""

    preview: str  # the first PREVIEW_LINES lines
    line_count: int
    complete: bool  # False when the file exceeds MAX_READ_BYTES: line_count is a lower bound
    heading: str | None
    opening: str | None  # the first line of prose, stripped (the prose shortens it)


def find_file(cwd: Path) -> str | None:
    """The path, relative to ``cwd``, of the file the example agent reads; ``None`` if none.

    A README at the top (``README.md`` first, then any ``README*``) wins, readable or not
    (reading it is the tool's job); otherwise the first small text file of a bounded scan.
    """
    try:
        root = cwd.resolve(strict=True)
        names = sorted(os.listdir(root))
    except OSError as exc:
        log.warning("cannot look into the session directory %s: %s", cwd, exc)
        return None
    readmes = sorted(
        (name for name in names if name.lower().startswith("readme")),
        key=lambda name: (name != "README.md", name.lower() != "readme.md", name),
    )
    for name in readmes:
        path = root / name
        if path.is_file() and _inside(path, root):
            return name
    found = _scan_for_text_file(root)
    return found.relative_to(root).as_posix() if found is not None else None


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path``, with every symlink resolved, is within ``root`` (resolved)."""
    try:
        return path.resolve(strict=True).is_relative_to(root)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        log.debug("cannot resolve %s: %s", path, exc)
        return False


def _scan_for_text_file(root: Path) -> Path | None:
    """Breadth-first, sorted, bounded: the first small text file under ``root``.

    Hidden entries and bulky build directories are skipped and no symlink is followed, so
    the scan never leaves ``root``.
    """
    budget = SCAN_MAX_ENTRIES
    level = [root]
    for _depth in range(SCAN_MAX_DEPTH + 1):
        deeper: list[Path] = []
        for directory in level:
            try:
                with os.scandir(directory) as listing:
                    entries = sorted(itertools.islice(listing, budget), key=lambda e: e.name)
            except OSError as exc:
                log.debug("cannot list %s: %s", directory, exc)
                continue
            budget -= len(entries)
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name not in SKIP_DIRS:
                            deeper.append(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False) and _looks_like_text(
                        Path(entry.path)
                    ):
                        return Path(entry.path)
                except OSError as exc:
                    log.debug("skipping %s: %s", entry.path, exc)
            if budget <= 0:
                return None
        level = deeper
    return None


def _looks_like_text(path: Path) -> bool:
    """A small, non-empty file whose first bytes are UTF-8 without NUL bytes."""
    try:
        size = path.stat().st_size
        if not 0 < size <= SMALL_FILE_BYTES:
            return False
        with path.open("rb") as file:
            head = file.read(SNIFF_BYTES)
    except OSError as exc:
        log.debug("skipping %s: %s", path, exc)
        return False
    if b"\0" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def summarise_file(path: Path) -> FileSummary:
    """Read ``path`` (at most :data:`MAX_READ_BYTES`) and summarise it.

    Raises:
        OSError: The file cannot be opened or read.
    """
    with path.open("rb") as file:
        data = file.read(MAX_READ_BYTES + 1)
    complete = len(data) <= MAX_READ_BYTES
    return summarise_text(data[:MAX_READ_BYTES].decode("utf-8", errors="replace"), complete)


def summarise_text(text: str, complete: bool) -> FileSummary:
    """Summarise a file's text (``complete``: all of it, so the line count is exact)."""
    lines = text.splitlines()
    preview = "".join(text.splitlines(keepends=True)[:PREVIEW_LINES])
    heading = _first_heading(lines)
    return FileSummary(
        preview=preview,
        line_count=len(lines),
        complete=complete,
        heading=heading,
        opening=_opening(lines, heading),
    )


def _first_heading(lines: list[str]) -> str | None:
    """The first Markdown (``# Title``) or underlined (Markdown/reST) heading."""
    for index, line in enumerate(lines):
        atx = _ATX_HEADING.match(line)
        if atx and atx.group(1).strip():
            return atx.group(1).strip()
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if line.strip() and not _UNDERLINE.match(line) and _UNDERLINE.match(following):
            return line.strip()
    return None


def _opening(lines: list[str], heading: str | None) -> str | None:
    """The first line that reads like prose (not a heading, rule, badge or markup)."""
    for line in lines:
        text = line.strip()
        if not text or text == heading or _UNDERLINE.match(text) or _ATX_HEADING.match(text):
            continue
        if text[0].isalnum():
            return text
    return None
