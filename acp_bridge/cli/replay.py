"""``acp-bridge replay``: the ACP notifications an event log makes, one per line on stdout.

Rule: stdout carries those notifications only, written by the one writer here; problems
with the input (corrupt lines, missing files, invalid events) go to stderr and make the exit
status 1.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from acp_bridge.errors import BridgeError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

    from acp_bridge.acp.coalesce import Outgoing
    from acp_bridge.core.replay import Replayer
    from acp_bridge.eventlog.reader import CorruptLine
    from acp_bridge.eventlog.records import LogRecord

log = logging.getLogger("acp_bridge")

EXIT_OK = 0
EXIT_BAD_INPUT = 1


def _stdin_records() -> Iterator[tuple[str, LogRecord | CorruptLine]]:
    from acp_bridge.eventlog.reader import read_stream

    return read_stream(sys.stdin.buffer, "<stdin>", check_index=False, skip_blank_lines=True)


def _write(out: BinaryIO, entries: list[Outgoing]) -> None:
    from acp_bridge.acp.coalesce import wire

    for entry in entries:
        out.write(wire(entry))  # wire


def _replay_one(
    replayer: Replayer, out: BinaryIO, items: Iterator[tuple[str, LogRecord | CorruptLine]]
) -> bool:
    """Replay one input; True when every line of it was good."""
    from acp_bridge.eventlog.reader import CorruptLine

    clean = True
    for where, item in items:
        if isinstance(item, CorruptLine):
            log.error("%s, skipped", item)
            clean = False
            continue
        _write(out, replayer.feed(item.event, where=where))
    return clean


def replay_command(args: argparse.Namespace) -> int:
    """Run ``acp-bridge replay``; see ``acp-bridge replay --help``."""
    from acp_bridge.core.replay import Replayer
    from acp_bridge.core.translate import TranslatorOptions
    from acp_bridge.eventlog.reader import read_located_records, segments_for_file

    harn = args.replay_harn_extensions or args.harn_extensions
    replayer = Replayer(TranslatorOptions(harn_extensions=harn, cwd=args.cwd))
    out: BinaryIO = sys.stdout.buffer  # wire: the one writer of replay output
    failed = False
    for name in args.logs:
        if name == "-":
            replayer.default_session_id = "stdin"
            replayer.begin_log()
            failed |= not _replay_one(replayer, out, _stdin_records())
            out.flush()
            continue
        path = Path(name)
        if not path.is_file():
            log.error("%s: no such log file", name)
            failed = True
            continue
        replayer.default_session_id = path.stem
        replayer.begin_log()
        try:
            failed |= not _replay_one(replayer, out, read_located_records(segments_for_file(path)))
        except BridgeError as exc:
            log.error("%s", exc)  # noqa: TRY400 - one clean line; the error names the file
            failed = True
        out.flush()
    _write(out, replayer.finish())
    out.flush()
    stats = replayer.stats
    for problem in stats.problems:
        log.warning("%s", problem)
    if stats.invalid_events:
        failed = True
    return EXIT_BAD_INPUT if failed else EXIT_OK
