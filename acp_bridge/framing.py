r"""Newline-delimited framing for both pipes the bridge reads: the editor's and the VM's.

Rule: nothing in this module performs I/O. A decoder is fed whatever bytes arrived and
returns the complete lines they finish; a line longer than the limit is never held in
memory: it is skipped up to its newline and reported as a :class:`LineTooLong` value.
``\r\n`` line ends are accepted (the ACP TypeScript SDK accepts them too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: How much of an over-long line is kept, for the diagnostic.
HEAD_BYTES: Final = 200


@dataclass(frozen=True, slots=True)
class LineTooLong:
    """A line that exceeded the limit and was discarded.

    Attributes:
        length: How many bytes the line had (up to its newline, or so far at EOF).
        head: Its first bytes, for the diagnostic.
    """

    length: int
    head: bytes


class LineDecoder:
    """Splits a byte stream into lines without their line ends."""

    __slots__ = ("_buffer", "_dropped", "_head", "max_line_bytes")

    def __init__(self, *, max_line_bytes: int) -> None:
        """Create a decoder.

        Args:
            max_line_bytes: The longest line accepted, without its line end.
        """
        self.max_line_bytes = max_line_bytes
        self._buffer = b""
        self._dropped = -1  # bytes of an over-long line skipped so far; -1: not skipping
        self._head = b""

    def feed(self, data: bytes) -> list[bytes | LineTooLong]:
        """Add bytes; return every line they complete, in order."""
        out: list[bytes | LineTooLong] = []
        if self._dropped >= 0:
            at = data.find(b"\n")
            if at < 0:
                self._dropped += len(data)
                return out
            out.append(LineTooLong(self._dropped + at, self._head))
            self._dropped = -1
            data = data[at + 1 :]
        if self._buffer:
            data = self._buffer + data
        *lines, rest = data.split(b"\n")
        limit = self.max_line_bytes
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            out.append(line if len(line) <= limit else LineTooLong(len(line), line[:HEAD_BYTES]))
        if len(rest) > limit + 1:  # +1: a trailing \r of a CRLF still to come
            self._dropped = len(rest)
            self._head = rest[:HEAD_BYTES]
            rest = b""
        self._buffer = rest
        return out

    def eof(self) -> bytes | LineTooLong | None:
        """The stream ended: return an unterminated last line, if there is one."""
        if self._dropped >= 0:
            dropped, self._dropped = self._dropped, -1
            return LineTooLong(dropped, self._head)
        rest, self._buffer = self._buffer, b""
        if rest.endswith(b"\r"):
            rest = rest[:-1]
        if len(rest) > self.max_line_bytes:  # held back only for a CR that never came
            return LineTooLong(len(rest), rest[:HEAD_BYTES])
        return rest or None

    @property
    def pending(self) -> int:
        """Bytes held for an unfinished line."""
        return len(self._buffer)
