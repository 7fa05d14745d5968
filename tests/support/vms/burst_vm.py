#!/usr/bin/env python3
"""A session-mode VM that asks the editor many things at once, for the end-to-end tests.

It speaks the session-mode protocol (``protocol/vm/modes.md``) like ``session_vm.py``, but
at each prompt it first sends ``--burst METHOD JSON --count N``: N requests of METHOD (params JSON,
``sessionId`` added, and ``{i}`` in any string value replaced by the request's number),
all at once, ids ``burst-0`` ... ``burst-<N-1>``, without waiting for any answer. Once
every one is answered (or ``--deadline S`` passed, default 60) it streams one
``agent_message_chunk`` whose content is a JSON summary and answers the prompt
``end_turn`` (``cancelled`` after a ``session/cancel``)::

    {"sent": N, "results": R, "errors": {"<code>": count}, "missing": M,
     "answers": {"burst-0": <the answer's result or error>, ...}}

``answers`` holds the first ``--keep K`` answers by id (default 8). Lines that are not JSON
are reported on stderr and skipped; a VM that gets no answer never waits past its deadline.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from typing import Any


class BurstVm:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.session_id = os.environ.get("ACP_BRIDGE_SESSION_ID", "burst-vm")
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()
        self.answers: dict[str, dict[str, Any]] = {}
        self.answered = threading.Condition(self.lock)
        self.cancelled = threading.Event()

    def send(self, message: dict[str, Any]) -> None:
        with self.write_lock:
            sys.stdout.write(json.dumps(message) + "\n")
            sys.stdout.flush()

    def serve(self) -> int:
        for line in sys.stdin.buffer:
            try:
                message = json.loads(line)
            except ValueError as exc:
                print(f"burst_vm: skipping a line that is not JSON: {exc}", file=sys.stderr)
                continue
            method = message.get("method")
            if method is None and "id" in message:
                with self.answered:
                    self.answers[str(message["id"])] = message
                    self.answered.notify_all()
            elif method == "initialize":
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": {"protocolVersion": 1}})
            elif method == "session/cancel":
                self.cancelled.set()
                with self.answered:
                    self.answered.notify_all()
            elif method == "session/prompt":
                self.cancelled.clear()
                threading.Thread(target=self.prompt, args=(message["id"],), daemon=True).start()
        return 0

    def prompt(self, prompt_id: Any) -> None:
        method, raw = self.args.burst
        count = self.args.count
        ids = [f"burst-{i}" for i in range(count)]
        with self.answered:
            for msg_id in ids:
                self.answers.pop(msg_id, None)
        for number, msg_id in enumerate(ids):
            params = json.loads(raw.replace("{i}", str(number)))
            params.setdefault("sessionId", self.session_id)
            self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        deadline = time.monotonic() + self.args.deadline
        with self.answered:
            while True:
                missing = [i for i in ids if i not in self.answers]
                left = deadline - time.monotonic()
                if not missing or left <= 0:
                    break
                self.answered.wait(min(left, 0.5))
            got = [self.answers[i] for i in ids if i in self.answers]
        errors: dict[str, int] = {}
        for answer in got:
            if "error" in answer:
                code = str(answer["error"].get("code"))
                errors[code] = errors.get(code, 0) + 1
        summary = {
            "sent": count,
            "results": sum("result" in a for a in got),
            "errors": errors,
            "missing": len(missing),
            "answers": {
                str(a["id"]): a.get("result", a.get("error")) for a in got[: self.args.keep]
            },
        }
        event = {
            "type": "agent_message_chunk",
            "session_id": self.session_id,
            "content": json.dumps(summary),
        }
        self.send({"jsonrpc": "2.0", "method": "session/event", "params": {"event": event}})
        stop = "cancelled" if self.cancelled.is_set() else "end_turn"
        self.send({"jsonrpc": "2.0", "id": prompt_id, "result": {"stopReason": stop}})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--burst", nargs=2, metavar=("METHOD", "JSON"), required=True)
    parser.add_argument("--count", type=int, default=1, metavar="N")
    parser.add_argument("--deadline", type=float, default=60.0, metavar="S")
    parser.add_argument("--keep", type=int, default=8, metavar="K")
    return BurstVm(parser.parse_args()).serve()


if __name__ == "__main__":
    raise SystemExit(main())
