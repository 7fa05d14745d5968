#!/usr/bin/env python3
"""A session-mode agent VM for the end-to-end tests: correct by default, or misbehaving.

Session mode (``protocol/vm/modes.md``): one long-lived process per ACP session, speaking
newline-delimited JSON-RPC 2.0 on stdin/stdout. The bridge sends ``initialize`` (request),
``session/prompt`` (request, one at a time) and ``session/cancel`` (notification); the VM
sends ``session/event`` notifications whose ``params.event`` is an AgentEvent, and answers
each prompt ``{"stopReason": ...}``. Closing stdin ends the session.

By default this VM answers ``initialize``; for each prompt it streams ``--chunks N``
(default 2) ``agent_message_chunk`` events ``"[i/N] You said: <prompt text>\\n"``,
``--interval S`` seconds apart (default 0), and answers ``end_turn``; ``session/cancel``
stops the stream and the prompt is answered ``cancelled`` at once. Unknown requests get
``-32601``; lines that are not JSON are reported on stderr and skipped.

Misbehaviour, for the bridge's sake:

* ``--exit-mid-turn CODE``: exit with CODE right after the first chunk of a prompt;
* ``--ignore-cancel``: after ``session/cancel`` keep streaming (every ``--interval``, at
  least 0.05 s) and never answer the prompt;
* ``--slow-cancel S``: after ``session/cancel`` answer ``cancelled`` only S seconds later;
* ``--bad-stop-reason``: answer prompts with a stop reason ACP does not have;
* ``--error-answer``: answer prompts with a JSON-RPC error (code -32000);
* ``--events-outside-turn``: also emit a chunk after answering ``initialize`` and after
  answering each prompt, when no prompt is running;
* ``--emit-at-start JSON`` / ``--emit-after-answer JSON``: emit the events of a JSON list
  (objects with a ``type``; ``session_id`` is added) right after answering ``initialize``
  / each prompt, when no prompt is running;
* ``--plain-events``: print bare AgentEvent lines instead of ``session/event``
  notifications;
* ``--frame-depth N``: add ``frame_depth: N`` to each ``session/event``'s params;
* ``--no-initialize-answer``: never answer ``initialize``;
* ``--call METHOD JSON``: at each prompt, first send the bridge the request METHOD (params
  JSON, ``sessionId`` added), wait for its answer and stream it back as a chunk;
* ``--exit-after-call CODE``: exit with CODE right after sending a ``--call``;
* ``--close-stdout-at-prompt``: at the first prompt, emit one chunk, close stdout and keep
  running (sleeping) until killed;
* ``--ignore-eof``: keep running after stdin closes; ``--ignore-term``: ignore SIGTERM;
* ``--stop-reading-once MARKER``: unless the file MARKER exists, create it and stop reading
  stdin right after ``initialize`` (a VM busy elsewhere; later VMs behave);
* ``--print-pid``: print ``session-vm-pid N`` on stderr at start;
* ``session/set_mode`` and ``session/set_config_option`` are answered ``{}`` (with
  ``--refuse-config``: ``-32602``), each printed on stderr as ``configured METHOD JSON``;
* ``--print-initialize``: print ``initialize-params JSON`` on stderr for each ``initialize``;
* ``--fork-child``: at start, a child that sleeps for a long time in the VM's process
  group, holding none of its pipes (it ignores SIGTERM too with ``--ignore-term``); its
  pid goes to stderr as ``child-pid N``;
* ``--daemon-child``: at start, a daemon that leaves the process group and the session
  (``setsid``) but keeps the VM's stdout and stderr open and sleeps; its pid goes to stderr
  as ``daemon-pid N`` once it has left (the test must kill it).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Any

STILL_GOING_MIN_INTERVAL = 0.05


def fork_child() -> None:
    """A long-sleeping child in our process group; its pid goes to stderr."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"],
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


class EndOfInput(Exception):
    """Stdin closed: the session is over."""


class SessionVm:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.session_id = os.environ.get("ACP_BRIDGE_SESSION_ID", "session-vm")
        self.inbox: queue.Queue[tuple[dict[str, Any], threading.Event] | None] = queue.Queue()
        self.eof = threading.Event()
        self.lock = threading.Lock()
        self.open_prompts: list[threading.Event] = []
        self.answers: dict[Any, dict[str, Any]] = {}
        self.answered = threading.Event()
        self.calls = 0

    # ---------------------------------------------------------------- the wire

    def send(self, message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    def answer(self, msg_id: Any, result: Any) -> None:
        self.send({"jsonrpc": "2.0", "id": msg_id, "result": result})

    def error(self, msg_id: Any, code: int, message: str) -> None:
        self.send({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}})

    def emit(self, event_type: str, **fields: Any) -> None:
        event = {"type": event_type, "session_id": self.session_id, **fields}
        if self.args.plain_events:
            self.send(event)
            return
        params: dict[str, Any] = {"event": event}
        if self.args.frame_depth is not None:
            params["frame_depth"] = self.args.frame_depth
        self.send({"jsonrpc": "2.0", "method": "session/event", "params": params})

    # ---------------------------------------------------------------- stdin

    def read_stdin(self) -> None:
        """Reader thread: cancels act at once; everything else is queued in order."""
        stop_reading = False
        marker = self.args.stop_reading_once
        if marker is not None and not os.path.exists(marker):
            with open(marker, "w"):
                pass  # later VMs of the test find it and behave
            stop_reading = True
        for line in sys.stdin.buffer:
            try:
                message = json.loads(line)
            except ValueError as exc:
                print(f"session_vm: skipping a line that is not JSON: {exc}", file=sys.stderr)
                continue
            if not isinstance(message, dict):
                print("session_vm: skipping a line that is not an object", file=sys.stderr)
                continue
            if "method" not in message and "id" in message:  # an answer to one of our calls
                with self.lock:
                    self.answers[message["id"]] = message
                self.answered.set()
                continue
            if message.get("method") == "session/cancel":
                with self.lock:
                    for cancelled in self.open_prompts:
                        cancelled.set()
                continue
            cancelled = threading.Event()
            if message.get("method") == "session/prompt":
                with self.lock:
                    self.open_prompts.append(cancelled)
            self.inbox.put((message, cancelled))
            if stop_reading and message.get("method") == "initialize":
                time.sleep(600)  # read nothing more: the bridge's writes back up
        self.eof.set()
        with self.lock:
            for cancelled in self.open_prompts:
                cancelled.set()
        self.inbox.put(None)

    # ---------------------------------------------------------------- main loop

    def serve(self) -> int:
        threading.Thread(target=self.read_stdin, daemon=True).start()
        try:
            while (item := self.inbox.get()) is not None:
                message, cancelled = item
                self.dispatch(message, cancelled)
                with self.lock:
                    if cancelled in self.open_prompts:
                        self.open_prompts.remove(cancelled)
        except EndOfInput:
            print("session_vm: stdin closed during a turn", file=sys.stderr)
        while self.args.ignore_eof:
            time.sleep(1)
        return 0

    def dispatch(self, message: dict[str, Any], cancelled: threading.Event) -> None:
        method = message.get("method")
        msg_id = message.get("id")
        params = message.get("params") or {}
        if method == "initialize":
            if self.args.print_initialize:
                print(f"initialize-params {json.dumps(params)}", file=sys.stderr, flush=True)
            if isinstance(params.get("sessionId"), str):
                self.session_id = params["sessionId"]
            if not self.args.no_initialize_answer:
                self.answer(msg_id, {"protocolVersion": 1, "agentInfo": {"name": "session-vm"}})
            if self.args.events_outside_turn:
                self.emit("agent_message_chunk", content="outside a turn, after initialize")
            self.emit_all(self.args.emit_at_start)
        elif method in ("session/set_mode", "session/set_config_option"):
            print(f"configured {method} {json.dumps(params)}", file=sys.stderr, flush=True)
            if self.args.refuse_config:
                self.error(msg_id, -32602, "not that one")
            else:
                self.answer(msg_id, {})
        elif method == "session/prompt":
            self.prompt(msg_id, params, cancelled)
        elif "id" in message and method is not None:
            self.error(msg_id, -32601, f"method not found: {method}")

    def prompt(self, msg_id: Any, params: dict[str, Any], cancelled: threading.Event) -> None:
        if isinstance(params.get("sessionId"), str):
            self.session_id = params["sessionId"]
        blocks = params.get("prompt") or []
        text = " ".join(
            b["text"] for b in blocks if isinstance(b, dict) and isinstance(b.get("text"), str)
        )
        if self.args.close_stdout_at_prompt:
            self.emit("agent_message_chunk", content="closing my stdout now")
            sys.stdout.flush()
            os.close(1)
            time.sleep(600)
        for method, raw in self.args.call or []:
            answer = self.call(method, json.loads(raw), cancelled)
            self.emit("agent_message_chunk", content=json.dumps({"call": method, **answer}))
        n = self.args.chunks
        for i in range(n):
            if i > 0 and cancelled.wait(self.args.interval):
                break
            if cancelled.is_set():
                break
            self.emit("agent_message_chunk", content=f"[{i + 1}/{n}] You said: {text}\n")
            if i == 0 and self.args.exit_mid_turn is not None:
                os._exit(self.args.exit_mid_turn)
        if cancelled.is_set():
            self.cancelled(msg_id)
        elif self.args.error_answer:
            self.error(msg_id, -32000, "session_vm was told to fail this prompt")
        elif self.args.bad_stop_reason:
            self.answer(msg_id, {"stopReason": "finished_somehow"})
        else:
            self.answer(msg_id, {"stopReason": "end_turn"})
        if self.args.events_outside_turn:
            self.emit("agent_message_chunk", content="outside a turn, after the answer")
        self.emit_all(self.args.emit_after_answer)

    def emit_all(self, events: str | None) -> None:
        """Emit each event of a JSON list (``--emit-at-start``, ``--emit-after-answer``)."""
        for event in json.loads(events or "[]"):
            self.emit(event.pop("type"), **event)

    def call(
        self, method: str, params: dict[str, Any], cancelled: threading.Event
    ) -> dict[str, Any]:
        """Ask the editor through the bridge and wait for the answer (or give up)."""
        self.calls += 1
        call_id = f"vm-call-{self.calls}"
        params = {"sessionId": self.session_id, **params}
        self.send({"jsonrpc": "2.0", "id": call_id, "method": method, "params": params})
        if self.args.exit_after_call is not None:
            os._exit(self.args.exit_after_call)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with self.lock:
                if call_id in self.answers:
                    return self.answers.pop(call_id)
                self.answered.clear()
            self.answered.wait(0.05)
        return {"error": "no answer within 30 s"}

    def cancelled(self, msg_id: Any) -> None:
        if self.eof.is_set() and not self.args.ignore_eof:
            raise EndOfInput
        if self.args.ignore_cancel:
            count = 0
            while True:
                count += 1
                self.emit("agent_message_chunk", content=f"still going {count} ")
                time.sleep(max(self.args.interval, STILL_GOING_MIN_INTERVAL))
                if self.eof.is_set() and not self.args.ignore_eof:
                    raise EndOfInput
        if self.args.slow_cancel:
            time.sleep(self.args.slow_cancel)
        self.answer(msg_id, {"stopReason": "cancelled"})


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--chunks", type=int, default=2, metavar="N", help="chunks per prompt")
    parser.add_argument(
        "--exit-after-call", type=int, metavar="CODE", help="exit as soon as a --call is sent"
    )
    parser.add_argument(
        "--call",
        nargs=2,
        action="append",
        metavar=("METHOD", "JSON"),
        help="at each prompt, first ask the editor METHOD with params JSON; repeatable",
    )
    parser.add_argument("--interval", type=float, default=0.0, metavar="S", help="between chunks")
    parser.add_argument("--exit-mid-turn", type=int, metavar="CODE", help="exit after chunk 1")
    parser.add_argument("--ignore-cancel", action="store_true", help="stream on, never answer")
    parser.add_argument("--slow-cancel", type=float, default=0.0, metavar="S")
    parser.add_argument("--bad-stop-reason", action="store_true")
    parser.add_argument("--error-answer", action="store_true")
    parser.add_argument("--events-outside-turn", action="store_true")
    parser.add_argument("--emit-at-start", metavar="JSON", help="events after initialize")
    parser.add_argument("--emit-after-answer", metavar="JSON", help="events after each answer")
    parser.add_argument("--plain-events", action="store_true")
    parser.add_argument("--frame-depth", type=int, metavar="N")
    parser.add_argument("--no-initialize-answer", action="store_true")
    parser.add_argument("--ignore-eof", action="store_true", help="keep running after EOF")
    parser.add_argument("--close-stdout-at-prompt", action="store_true")
    parser.add_argument("--ignore-term", action="store_true", help="ignore SIGTERM")
    parser.add_argument("--stop-reading-once", metavar="MARKER", help="stop reading stdin")
    parser.add_argument("--print-pid", action="store_true", help="print the pid on stderr")
    parser.add_argument(
        "--refuse-config", action="store_true", help="refuse set_mode and set_config_option"
    )
    parser.add_argument(
        "--print-initialize", action="store_true", help="print initialize's params on stderr"
    )
    parser.add_argument("--fork-child", action="store_true", help="spawn a sleeping child")
    parser.add_argument("--daemon-child", action="store_true", help="a daemon holding stdout")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.print_pid:
        print(f"session-vm-pid {os.getpid()}", file=sys.stderr, flush=True)
    if args.fork_child:
        fork_child()
    if args.daemon_child:
        daemon_child()
    return SessionVm(args).serve()


if __name__ == "__main__":
    raise SystemExit(main())
