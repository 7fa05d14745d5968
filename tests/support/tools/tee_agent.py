"""A transparent recording proxy that an ACP client can launch as "the agent".

Usage::

    python tests/support/tools/tee_agent.py TRANSCRIPT.jsonl -- CMD [ARGS...]

It spawns ``CMD ARGS...`` and copies, line by line and byte for byte, its own stdin to the
child's stdin and the child's stdout to its own stdout; the child inherits stderr. Every line
is appended to ``TRANSCRIPT.jsonl`` as one JSON object::

    {"dir": "client", "t": 12345.678901, "line": "{\\"jsonrpc\\":\\"2.0\\",...}"}
    {"dir": "agent",  "t": 12345.712345, "line": "..."}

``dir`` is who wrote the line (``client`` = our stdin, ``agent`` = the child's stdout), ``t``
is ``time.monotonic()`` (CLOCK_MONOTONIC on Linux, so comparable across processes) when the
line was read, and ``line`` is the line without its final ``\\n``. A line that is not UTF-8 is
stored as ``"line_b64"`` (base64) instead; a last line without ``\\n`` gets ``"eol": false``.
``{pid}`` in the transcript path is replaced by this process's id: a client such as acpx that
starts the same agent command several times then gets one transcript per connection (one
transcript must hold one connection, or the checker sees reused request ids).

A record is written (one ``write`` on an ``O_APPEND`` descriptor, no buffering) *before* its
line is forwarded, so the transcript always lists a line before anything it caused, and
nothing is lost if this process is killed. When our stdin reaches EOF the child's stdin is
closed. When the child exits we exit with its exit code (``128 + N`` for signal ``N``).
SIGTERM, SIGINT and SIGHUP are passed on to the child.

Standard library only: a client can run it with any Python 3.11+.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import IO, Any, Final

USAGE: Final = "usage: tee_agent.py TRANSCRIPT.jsonl -- CMD [ARGS...]"
FORWARDED_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Transcript:
    """Appends one JSON record per line to a file, in the order lines are seen."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._lock = threading.Lock()

    def record(self, direction: str, line: bytes) -> None:
        entry: dict[str, Any] = {"dir": direction, "t": time.monotonic()}
        body = line[:-1] if line.endswith(b"\n") else line
        try:
            entry["line"] = body.decode("utf-8")
        except UnicodeDecodeError:
            entry["line_b64"] = base64.b64encode(body).decode("ascii")
        if not line.endswith(b"\n"):
            entry["eol"] = False
        data = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            os.write(self._fd, data)

    def close(self) -> None:
        os.close(self._fd)


def _pump(source: IO[bytes], sink: IO[bytes] | None, direction: str, log: Transcript) -> None:
    """Copy lines from ``source`` to ``sink``, recording each one first; close ``sink`` at EOF.

    When ``sink`` breaks (its reader went away) the lines are still read and recorded, so the
    writer on the other side never blocks on a full pipe.
    """
    while line := source.readline():
        log.record(direction, line)
        if sink is None:
            continue
        try:
            sink.write(line)
            sink.flush()
        except (BrokenPipeError, ValueError, OSError):
            sink = None
    if sink is not None:
        try:
            sink.close()
        except OSError:
            pass  # the reader is gone already; nothing left to tell it


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write(USAGE + "\n")
        return 2
    transcript_path = argv[0].replace("{pid}", str(os.getpid()))
    command = argv[2:]
    log = Transcript(transcript_path)
    try:
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    except OSError as exc:
        sys.stderr.write(f"tee_agent: cannot start {command[0]!r}: {exc}\n")
        log.close()
        return 127
    assert child.stdin is not None
    assert child.stdout is not None

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    for signum in FORWARDED_SIGNALS:
        signal.signal(signum, forward)

    to_child = threading.Thread(
        target=_pump, args=(sys.stdin.buffer, child.stdin, "client", log), daemon=True
    )
    from_child = threading.Thread(
        target=_pump, args=(child.stdout, sys.stdout.buffer, "agent", log), daemon=True
    )
    to_child.start()
    from_child.start()
    code = child.wait()
    from_child.join(timeout=5)  # the rest of what the child wrote before it exited
    try:
        sys.stdout.buffer.flush()
    except (OSError, ValueError):
        pass  # the client closed its end; nothing to flush to
    log.close()
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    # os._exit: the stdin thread may still be blocked in read(); do not wait for it.
    os._exit(main(sys.argv[1:]))
