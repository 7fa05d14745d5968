#!/usr/bin/env python3
"""An exec-mode agent VM for the end-to-end tests: one process per prompt.

Exec mode (``protocol/vm/modes.md``): the bridge starts this script for each prompt, writes
one JSON line (``{"protocolVersion", "sessionId", "cwd", "prompt", "mcpServers"}``) to its
stdin and closes it; the script writes AgentEvent lines on stdout; its exit ends the turn
(status 0 is ``end_turn``, anything else an error).

Usage: ``python tests/support/vms/exec_vm.py [OPTIONS]``. Output comes in this order:

* ``--print-pid``: print ``exec-vm-pid N`` on stderr at start;
* ``--no-read-stdin``: do not read the request (the session id then comes from
  ``$ACP_BRIDGE_SESSION_ID``);
* ``--fork-child``: start a child that sleeps for a long time and print ``child-pid N``
  to stderr, so that a test can check that the child dies with the process group (the
  child holds none of the VM's pipes);
* ``--daemon-child``: start a daemon that leaves the process group and the session
  (``setsid``) but keeps the VM's stdout and stderr open and sleeps for a long time; its
  pid goes to stderr as ``daemon-pid N`` once it has left (the test must kill it);
* ``--events FILE``: replay the JSONL file, each object's ``session_id`` rewritten to this
  session's id (lines that are not JSON objects are copied unchanged);
* ``--echo``: one ``agent_message_chunk`` of the prompt's text;
* ``--garbage``: a valid chunk, then non-JSON text, invalid UTF-8, non-object JSON, an
  object without ``type``, an unknown event type, a known type with a wrong-typed field,
  then another valid chunk;
* ``--tool-call-open``: a ``tool_call`` that never gets a terminal update;
* ``--budget-exhausted``: a ``budget_exhausted`` event (the turn ends ``max_turn_requests``);
* ``--forever``: a chunk every ``--sleep-per-event`` seconds (0.05 if unset) until killed;
  with ``--ignore-term`` SIGTERM is ignored, so that only SIGKILL stops it;
* ``--stderr-flood N``: N lines on stderr, as fast as possible (before any event);
* ``--flood N``: N ``agent_message_chunk`` events ``"n<i> "`` (i from 0), as fast as possible;
* ``--env``: one chunk with the JSON of its environment's variable names, sorted;
* ``--close-stdout``: after everything above, close stdout and keep running until killed;
* ``--stderr TEXT``: TEXT on stderr, then ``--exit CODE`` (default 0).

``--sleep-per-event S`` sleeps S seconds before every line written.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SLEEPING_CHILD = "import time; time.sleep(600)"


class Output:
    """Writes lines on stdout, flushed, each after the configured sleep."""

    def __init__(self, session_id: str, sleep_per_event: float) -> None:
        self.session_id = session_id
        self.sleep_per_event = sleep_per_event

    def raw(self, line: bytes) -> None:
        if self.sleep_per_event > 0:
            time.sleep(self.sleep_per_event)
        sys.stdout.buffer.write(line + b"\n")
        sys.stdout.buffer.flush()

    def obj(self, value: Any) -> None:
        self.raw(json.dumps(value).encode())

    def event(self, event_type: str, **fields: Any) -> None:
        self.obj({"type": event_type, "session_id": self.session_id, **fields})

    def chunk(self, text: str) -> None:
        self.event("agent_message_chunk", content=text)


def prompt_text(request: dict[str, Any]) -> str:
    """The text blocks of the request's prompt, joined by spaces."""
    blocks = request.get("prompt")
    if not isinstance(blocks, list):
        return ""
    return " ".join(
        b["text"] for b in blocks if isinstance(b, dict) and isinstance(b.get("text"), str)
    )


def replay(out: Output, path: Path) -> None:
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            out.raw(line)
            continue
        if isinstance(value, dict):
            value["session_id"] = out.session_id
            out.obj(value)
        else:
            out.raw(line)


def garbage(out: Output) -> None:
    out.chunk("before the garbage ")
    out.raw(b"this line is not JSON")
    out.raw(b'{"type": "agent_message_chunk", "content": "\xff\xfe not UTF-8"}')
    out.raw(b"[1, 2, 3]")
    out.obj({"no_type": True, "session_id": out.session_id})
    out.event("event_from_the_future", payload={"x": 1})
    out.event("agent_message_chunk", content=5)
    out.event("tool_call", tool_call_id=["not", "a", "string"])
    out.chunk("after the garbage")


def fork_child() -> None:
    """A long-sleeping child in our process group; its pid goes to stderr."""
    child = subprocess.Popen(
        [sys.executable, "-c", SLEEPING_CHILD],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # holds none of our pipes: only the group kill stops it
    )
    print(f"child-pid {child.pid}", file=sys.stderr, flush=True)


def daemon_child() -> None:
    """A sleeping daemon in a session of its own that keeps our stdout and stderr open."""
    ready_r, ready_w = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        os.close(ready_r)
        print(f"daemon-pid {os.getpid()}", file=sys.stderr, flush=True)
        os.write(ready_w, b"x")
        os.close(ready_w)
        time.sleep(600)
        os._exit(0)
    os.close(ready_w)
    os.read(ready_r, 1)  # it has left our group and announced itself
    os.close(ready_r)
    os.waitpid(middle, 0)


def stress(args: argparse.Namespace, out: Output) -> None:
    """--stderr-flood, --env and --flood, in that order."""
    if args.stderr_flood:
        flood_line = b"stderr flood " + b"x" * 100 + b"\n"
        for _ in range(args.stderr_flood):
            sys.stderr.buffer.write(flood_line)
        sys.stderr.buffer.flush()
    if args.env:
        out.chunk(json.dumps(sorted(os.environ)))
    if args.flood:
        write = sys.stdout.buffer.write
        for i in range(args.flood):
            write(
                json.dumps(
                    {
                        "type": "agent_message_chunk",
                        "session_id": out.session_id,
                        "content": f"n{i} ",
                    }
                ).encode()
                + b"\n"
            )
        sys.stdout.buffer.flush()


def never_end(args: argparse.Namespace, out: Output) -> None:
    """--forever (chunks until killed) and --close-stdout (silent until killed)."""
    if args.forever:
        interval = args.sleep_per_event or 0.05
        out.sleep_per_event = 0.0
        count = 0
        while True:
            count += 1
            out.chunk(f"tick {count} ")
            time.sleep(interval)
    if args.close_stdout:
        sys.stdout.flush()
        os.close(1)
        time.sleep(600)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=Path, metavar="FILE", help="replay a JSONL file")
    parser.add_argument("--echo", action="store_true", help="echo the prompt as one chunk")
    parser.add_argument("--sleep-per-event", type=float, default=0.0, metavar="S")
    parser.add_argument("--forever", action="store_true", help="emit chunks until killed")
    parser.add_argument("--ignore-term", action="store_true", help="ignore SIGTERM")
    parser.add_argument("--garbage", action="store_true", help="interleave undecodable lines")
    parser.add_argument("--exit", type=int, default=0, metavar="CODE", help="exit status")
    parser.add_argument("--stderr", metavar="TEXT", help="write TEXT to stderr before exiting")
    parser.add_argument("--no-read-stdin", action="store_true", help="never read stdin")
    parser.add_argument("--fork-child", action="store_true", help="spawn a sleeping child")
    parser.add_argument("--daemon-child", action="store_true", help="a daemon holding stdout")
    parser.add_argument("--print-pid", action="store_true", help="print the pid on stderr")
    parser.add_argument("--tool-call-open", action="store_true", help="a never-ended tool call")
    parser.add_argument("--budget-exhausted", action="store_true", help="emit budget_exhausted")
    parser.add_argument("--stderr-flood", type=int, default=0, metavar="N")
    parser.add_argument("--flood", type=int, default=0, metavar="N")
    parser.add_argument("--env", action="store_true", help="a chunk naming its env variables")
    parser.add_argument("--close-stdout", action="store_true", help="close stdout, keep running")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.print_pid:
        print(f"exec-vm-pid {os.getpid()}", file=sys.stderr, flush=True)
    request: dict[str, Any] = {}
    if not args.no_read_stdin:
        line = sys.stdin.buffer.readline()
        request = json.loads(line) if line.strip() else {}
    session_id = str(
        request.get("sessionId") or os.environ.get("ACP_BRIDGE_SESSION_ID") or "exec-vm"
    )
    out = Output(session_id, args.sleep_per_event)

    if args.fork_child:
        fork_child()
    if args.daemon_child:
        daemon_child()
    stress(args, out)
    if args.events is not None:
        replay(out, args.events)
    if args.echo:
        out.chunk(prompt_text(request) if request else "(the prompt was not read)")
    if args.garbage:
        garbage(out)
    if args.tool_call_open:
        out.event(
            "tool_call",
            tool_call_id="open_1",
            tool_name="run_command",
            kind="execute",
            status="in_progress",
            raw_input={"command": "sleep 600"},
        )
    if args.budget_exhausted:
        out.event("budget_exhausted", max_iterations=3)
    never_end(args, out)
    if args.stderr is not None:
        print(args.stderr, file=sys.stderr, flush=True)
    exit_code: int = args.exit
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
