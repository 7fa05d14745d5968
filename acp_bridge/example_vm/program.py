"""The example VM as a program: its command line, and the loop that answers the bridge.

:func:`main` reads the pace, configures logging to stderr when run on its own, and serves
stdin and stdout until stdin ends. :class:`ExampleVm` answers the bridge's requests one at a
time: ``initialize`` (the session, its ``cwd``, the editor's powers, the chosen mode and
model), ``session/prompt`` (one scripted turn, :func:`.script.play`), ``session/set_mode``
and ``session/set_config_option`` (``{}``, or an error for a value the manifest does not
declare), ``session/cancel`` sent as a request (the reader thread has already acted on
it), and an error for anything else.

Rule: this is the only module that touches the process's stdin and stdout; it hands them to
:mod:`.wire` and never writes itself.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import threading
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Final

from acp_bridge import __version__
from acp_bridge.example_vm import script
from acp_bridge.example_vm.offers import Choices, Refused
from acp_bridge.example_vm.request import Powers, Request
from acp_bridge.example_vm.turn import EndOfInput, Ledger, Turn
from acp_bridge.example_vm.wire import Calls, Inbox, Wire, read_stdin
from acp_bridge.jsonrpc import messages as rpc

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import BinaryIO

    from acp_bridge.example_vm.wire import Incoming

log = logging.getLogger(__name__)

PROTOCOL_VERSION: Final = 1
AGENT_NAME: Final = "acp-bridge-example-vm"
PACE_ENV: Final = "ACP_BRIDGE_EXAMPLE_PACE"


class ExampleVm:
    """The main loop: answers requests one at a time, playing a turn per prompt."""

    def __init__(self, pace: float, read: Callable[[int], bytes], out: BinaryIO) -> None:
        """Serve what ``read`` reads (see :func:`.wire.read_stdin`) and write to ``out``."""
        self.pace = pace
        self.read = read
        self.wire = Wire(out)
        self.inbox = Inbox(Calls(self.wire))
        self.session_id = os.environ.get("ACP_BRIDGE_SESSION_ID") or "example"
        try:
            self.cwd = Path.cwd()  # initialize names the session's cwd; this is a fallback
        except OSError as exc:  # the directory was removed under us
            log.warning("no current directory: %s", exc)
            self.cwd = Path(".")
        self.turns = 0
        self.powers = Powers()
        self.choices = Choices()
        self.ledger = Ledger()

    def serve(self) -> int:
        """Serve until stdin ends; return the exit status (0)."""
        reader = threading.Thread(
            target=read_stdin, args=(self.read, self.inbox), name="stdin", daemon=True
        )
        reader.start()
        while (incoming := self.inbox.queue.get()) is not None:
            try:
                self.dispatch(incoming)
            except EndOfInput:
                break
            finally:
                self.inbox.done(incoming)
        log.debug("stdin closed: exiting")
        return 0

    def dispatch(self, incoming: Incoming) -> None:
        """Answer one request from the bridge."""
        match incoming.message:
            case rpc.Invalid(id=msg_id, code=code, message=why):
                self.wire.refuse(msg_id, code, why)
            case rpc.Request(id=msg_id, method="initialize", params=params):
                self.wire.answer(msg_id, self.initialize(params or {}))
            case rpc.Request(id=msg_id, method="session/prompt", params=params):
                self.prompt(msg_id, params or {}, incoming.cancelled)
            case rpc.Request(id=msg_id, method="session/cancel"):  # the reader acted on it
                self.wire.answer(msg_id, None)
            case rpc.Request(id=msg_id, method="session/set_mode", params=params):
                self.choose(msg_id, lambda: self.choices.set_mode((params or {}).get("modeId")))
            case rpc.Request(id=msg_id, method="session/set_config_option", params=params):
                given = params or {}
                self.choose(
                    msg_id,
                    lambda: self.choices.set_option(given.get("configId"), given.get("value")),
                )
            case rpc.Request(id=msg_id, method=method):
                self.wire.refuse(msg_id, rpc.METHOD_NOT_FOUND, f"method not found: {method}")

    def initialize(self, params: rpc.JsonObject) -> rpc.JsonObject:
        """Remember the session and the cwd; say who we are."""
        if isinstance(params.get("sessionId"), str):
            self.session_id = params["sessionId"]
        if isinstance(params.get("cwd"), str):
            self.cwd = Path(params["cwd"])
        self.powers = Powers.from_capabilities(params.get("clientCapabilities"))
        self.choices.take(params.get("modeId"), params.get("configValues"))
        return {
            "protocolVersion": PROTOCOL_VERSION,
            "agentInfo": {
                "name": AGENT_NAME,
                "title": "acp-bridge example VM",
                "version": __version__,
            },
        }

    def choose(self, msg_id: rpc.RequestId, change: Callable[[], None]) -> None:
        """Make the editor's choice of a mode or option, and answer ``{}`` (or refuse it)."""
        try:
            change()
        except Refused as exc:
            self.wire.refuse(msg_id, rpc.INVALID_PARAMS, str(exc))
            return
        self.wire.answer(msg_id, {})

    def prompt(
        self, msg_id: rpc.RequestId, params: rpc.JsonObject, cancelled: threading.Event
    ) -> None:
        """Play one turn for a ``session/prompt`` and answer it.

        Raises:
            EndOfInput: Stdin ended during the turn.
        """
        prompt = params.get("prompt")
        if not isinstance(prompt, list):
            self.wire.refuse(msg_id, rpc.INVALID_PARAMS, "session/prompt needs a 'prompt' list")
            return
        if cancelled.is_set():  # cancelled while it waited behind another prompt
            self.wire.answer(msg_id, {"stopReason": "cancelled"})
            return
        session_id = params.get("sessionId")
        self.turns += 1
        turn = Turn(
            session_id=session_id if isinstance(session_id, str) else self.session_id,
            cwd=self.cwd,
            iteration=self.turns,
            pace=self.pace,
            cancelled=cancelled,
            eof=self.inbox.eof,
            wire=self.wire,
            calls=self.inbox.calls,
            powers=self.powers,
            choices=self.choices,
            ledger=self.ledger,
        )
        stop_reason = script.play(turn, Request.from_prompt(prompt))
        self.wire.answer(msg_id, {"stopReason": stop_reason})


def pace_from_env() -> float:
    """The pace multiplier from ``ACP_BRIDGE_EXAMPLE_PACE`` (1.0 when unset or invalid)."""
    raw = os.environ.get(PACE_ENV, "").strip()
    if not raw:
        return 1.0
    try:
        pace = float(raw)
    except ValueError:
        pace = math.nan
    if not math.isfinite(pace) or pace < 0:
        log.warning("%s=%r is not a non-negative number: using 1", PACE_ENV, raw)
        return 1.0
    return pace


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="acp-bridge example-vm",
        description="acp-bridge's example agent VM (session mode, JSON-RPC on stdin/stdout).",
    )
    parser.add_argument(
        "--pace",
        type=float,
        default=None,
        help=f"speed multiplier of a turn, 0 for no pauses (default: ${PACE_ENV} or 1)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the example VM on stdin/stdout until stdin ends."""
    args = _parser().parse_args(argv)
    if not logging.getLogger().handlers:  # run on its own, not through the acp-bridge CLI
        logging.basicConfig(
            stream=sys.stderr,
            level=logging.WARNING,
            format="example-vm: %(levelname)s: %(message)s",
        )
    pace = max(args.pace, 0.0) if args.pace is not None else pace_from_env()
    try:
        read = partial(os.read, sys.stdin.fileno())
        return ExampleVm(pace, read, sys.stdout.buffer).serve()  # wire
    except BrokenPipeError:
        log.info("stdout was closed: the bridge went away")
        # Point stdout at /dev/null so that the interpreter's final flush cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
