"""A VM that writes latency probes at a steady rate: each chunk's text is ``t<ns>``.

    paced_vm.py --rate 100 --count 500 [--acp]

``<ns>`` is ``time.monotonic_ns()`` when the line is written (the clock every process on
the machine shares). With ``--acp`` it plays the whole agent for the floor: it writes the
answers to the client's initialize and session/new, then ACP ``session/update`` lines
instead of AgentEvents, then the prompt's answer.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, required=True, help="events per second")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--acp", action="store_true", help="write ACP lines (the floor)")
    args = parser.parse_args()
    out = sys.stdout
    if args.acp:
        out.write(json.dumps({"jsonrpc": "2.0", "id": 0, "result": {"protocolVersion": 1}}) + "\n")
        out.write(json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"sessionId": "s"}}) + "\n")
        out.flush()
        time.sleep(0.2)  # the client sends its prompt
    interval = 1.0 / args.rate
    start = time.monotonic()
    for i in range(args.count):
        delay = start + i * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        text = f"t{time.monotonic_ns()}"
        if args.acp:
            update = {
                "sessionUpdate": "agent_message_chunk",
                "content": {"type": "text", "text": text},
            }
            message = {
                "jsonrpc": "2.0",
                "method": "session/update",
                "params": {"sessionId": "s", "update": update},
            }
        else:
            message = {"type": "agent_message_chunk", "session_id": "s", "content": text}
        out.write(json.dumps(message, separators=(",", ":")) + "\n")
        out.flush()
    if args.acp:
        out.write(
            json.dumps({"jsonrpc": "2.0", "id": 2, "result": {"stopReason": "end_turn"}}) + "\n"
        )
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
