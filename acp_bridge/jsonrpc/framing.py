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

    __slots__ = ("_buffer", "_cr", "_dropped", "_head", "max_line_bytes")

    def __init__(self, *, max_line_bytes: int) -> None:
        """Create a decoder.

        Args:
            max_line_bytes: The longest line accepted, without its line end.
        """
        self.max_line_bytes = max_line_bytes
        self._buffer = bytearray()  # an unfinished line; grows in place (linear, not quadratic)
        self._dropped = -1  # bytes of an over-long line skipped so far; -1: not skipping
        self._head = b""  # its first bytes (one more than shown, in case it is the \r)
        self._cr = False  # whether the last byte skipped was a \r

    def feed(self, data: bytes) -> list[bytes | LineTooLong]:
        """Add bytes; return every line they complete, in order."""
        out: list[bytes | LineTooLong] = []
        if self._dropped >= 0:
            at = data.find(b"\n")
            self._skip(data if at < 0 else data[:at])
            if at < 0:
                return out
            out.append(self._skipped())
            data = data[at + 1 :]
        if self._buffer:
            # Only the new bytes are searched and the unfinished line is extended in place:
            # a long line costs time in proportion to its length, not to its length squared.
            at = data.find(b"\n")
            self._buffer += data if at < 0 else data[:at]
            if at < 0:
                self._hold_or_drop()
                return out
            self._emit(out, bytes(self._buffer))
            self._buffer.clear()
            data = data[at + 1 :]
        *lines, rest = data.split(b"\n")
        limit = self.max_line_bytes
        for line in lines:  # the hot path: many short lines per read, inlined
            if line.endswith(b"\r"):
                line = line[:-1]
            out.append(line if len(line) <= limit else LineTooLong(len(line), line[:HEAD_BYTES]))
        self._buffer += rest
        self._hold_or_drop()
        return out

    def _emit(self, out: list[bytes | LineTooLong], line: bytes) -> None:
        if line.endswith(b"\r"):
            line = line[:-1]
        too_long = len(line) > self.max_line_bytes
        out.append(LineTooLong(len(line), line[:HEAD_BYTES]) if too_long else line)

    def _hold_or_drop(self) -> None:
        """Keep the unfinished line, or start skipping it once it is over the limit."""
        if len(self._buffer) > self.max_line_bytes + 1:  # +1: the \r of a CRLF to come
            self._dropped = 0
            self._skip(self._buffer)
            self._buffer = bytearray()

    def _skip(self, part: bytes | bytearray) -> None:
        """Count ``part`` of an over-long line, keeping only its head."""
        if len(self._head) <= HEAD_BYTES:
            self._head += bytes(part[: HEAD_BYTES + 1 - len(self._head)])
        if part:
            self._dropped += len(part)
            self._cr = part[-1] == ord("\r")

    def _skipped(self) -> LineTooLong:
        """The over-long line is over: report it as if it had arrived whole."""
        length = self._dropped - self._cr  # without the \r of a CRLF, like every line
        item = LineTooLong(length, self._head[: min(HEAD_BYTES, length)])
        self._dropped, self._head, self._cr = -1, b"", False
        return item

    def eof(self) -> bytes | LineTooLong | None:
        """The stream ended: return an unterminated last line, if there is one."""
        if self._dropped >= 0:
            return self._skipped()
        rest, self._buffer = bytes(self._buffer), bytearray()
        if rest.endswith(b"\r"):
            rest = rest[:-1]
        if len(rest) > self.max_line_bytes:  # held back only for a CR that never came
            return LineTooLong(len(rest), rest[:HEAD_BYTES])
        return rest or None

    @property
    def pending(self) -> int:
        """Bytes held for an unfinished line."""
        return len(self._buffer)
