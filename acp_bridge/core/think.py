"""``<think>...</think>`` in an agent's message stream: the spans that are its reasoning.

Some models write their reasoning inline, between ``<think>`` and ``</think>``, in what is
otherwise the message. :class:`ThinkSplitter` follows one session's message stream and
splits each chunk into runs of message text and of thought text; a tag may be cut across
chunks, so a suffix of a chunk that may start a tag is held back until the next chunk (or
the end of the turn) says whether it does.

Rule: nothing in this module performs I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

THINK_OPEN: Final = "<think>"
THINK_CLOSE: Final = "</think>"


@dataclass(slots=True)
class ThinkSplitter:
    """Routes ``<think>...</think>`` spans of a message stream to thought chunks.

    Attributes:
        inside: Whether the stream is inside a ``<think>`` span.
        held: Text held back because it may be the start of a tag.
    """

    inside: bool = False
    held: str = ""

    def feed(self, text: str) -> list[tuple[bool, str]]:
        """Split ``text`` into (is_thought, text) runs, holding back a partial tag."""
        buffer = self.held + text
        self.held = ""
        runs: list[tuple[bool, str]] = []
        while buffer:
            tag = THINK_CLOSE if self.inside else THINK_OPEN
            at = buffer.find(tag)
            if at >= 0:
                if at:
                    runs.append((self.inside, buffer[:at]))
                buffer = buffer[at + len(tag) :]
                self.inside = not self.inside
                continue
            keep = _partial_tag_suffix(buffer, tag)
            if keep:
                self.held = buffer[-keep:]
                buffer = buffer[:-keep]
            if buffer:
                runs.append((self.inside, buffer))
            break
        return runs

    def flush(self) -> list[tuple[bool, str]]:
        """Release held text at the end of a turn."""
        held, self.held = self.held, ""
        return [(self.inside, held)] if held else []


def _partial_tag_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0
