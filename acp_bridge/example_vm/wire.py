"""The example VM's JSON-RPC link to the bridge: stdout, the stdin reader, its own requests.

Three threads meet here. The main thread plays turns and is the only writer of stdout
(:class:`Wire`). The reader thread (:func:`read_stdin`) parses stdin: it acts on
``session/cancel`` at once, hands answers to the VM's own requests (:class:`Calls`) to the
turn waiting for them, and queues everything else in the :class:`Inbox` for the main thread,
in order.

Rule: only the main thread writes to the wire; the reader thread never answers anything.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import orjson

if TYPE_CHECKING:
    from typing import BinaryIO

log = logging.getLogger(__name__)

JsonObject: TypeAlias = dict[str, Any]


class Wire:
    """The VM's stdout: one JSON-RPC message per line."""

    def __init__(self, out: BinaryIO) -> None:
        """Write to ``out`` (the process's stdout, or a buffer in tests)."""
        self._out = out

    def send(self, message: JsonObject) -> None:
        """Write one message as one line and flush it."""
        self._out.write(orjson.dumps(message) + b"\n")
        self._out.flush()

    def answer(self, msg_id: Any, result: Any) -> None:
        """Answer a request with a result."""
        self.send({"jsonrpc": "2.0", "id": msg_id, "result": result})

    def refuse(self, msg_id: Any, code: int, message: str) -> None:
        """Answer a request with an error."""
        self.send({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}})

    def notify(self, method: str, params: JsonObject) -> None:
        """Send a notification."""
        self.send({"jsonrpc": "2.0", "method": method, "params": params})


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message from the bridge, with the flag that cancels it if it is a prompt."""

    message: JsonObject
    cancelled: threading.Event


class Inbox:
    """What the stdin reader thread hands to the main thread.

    Messages are queued in order and handled one at a time, so a prompt that arrives while
    a turn runs waits for it. ``session/cancel`` is not queued: the reader sets the cancel
    flag of every prompt not answered yet, which wakes the running turn out of its pauses.
    End of input sets :attr:`eof`, cancels everything and queues ``None``.
    """

    def __init__(self, calls: Calls) -> None:
        """Create an empty inbox; ``calls`` are abandoned when the input ends."""
        self.queue: queue.Queue[Incoming | None] = queue.Queue()
        self.eof = threading.Event()
        self.calls = calls
        self._lock = threading.Lock()
        self._open_prompts: list[threading.Event] = []

    def put(self, message: JsonObject) -> None:
        """Queue a message; a prompt's cancel flag is registered until it is answered."""
        cancelled = threading.Event()
        if message.get("method") == "session/prompt":
            with self._lock:
                self._open_prompts.append(cancelled)
        self.queue.put(Incoming(message, cancelled))

    def cancel_prompts(self) -> None:
        """Cancel the running prompt and every queued one."""
        with self._lock:
            for cancelled in self._open_prompts:
                cancelled.set()
            self._open_prompts.clear()

    def done(self, incoming: Incoming) -> None:
        """Forget a message's cancel flag once it has been handled."""
        with self._lock:
            if incoming.cancelled in self._open_prompts:
                self._open_prompts.remove(incoming.cancelled)

    def close(self) -> None:
        """Stdin ended: stop whatever runs, then let the main loop finish."""
        self.eof.set()
        self.cancel_prompts()
        self.calls.abandon()
        self.queue.put(None)


@dataclass(slots=True)
class Call:
    """A request this VM made of the bridge, until its answer arrives."""

    method: str
    done: threading.Event = field(default_factory=threading.Event)
    answer: JsonObject | None = None


class Calls:
    """The VM's own requests to the bridge (the editor's powers), matched to their answers.

    The main thread sends a request and waits; the stdin reader thread hands the answer
    over. Ids are this VM's own.
    """

    def __init__(self, wire: Wire) -> None:
        """Send requests on ``wire``."""
        self._wire = wire
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[int, Call] = {}

    def start(self, method: str, params: JsonObject) -> Call:
        """Send a request; the returned call is done once it is answered (or abandoned)."""
        call = Call(method)
        with self._lock:
            msg_id = next(self._ids)
            self._pending[msg_id] = call
        self._wire.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return call

    def resolve(self, message: JsonObject) -> bool:
        """Hand an answer to its call; ``False`` if no request of ours has that id."""
        with self._lock:
            call = self._pending.pop(message.get("id"), None)  # type: ignore[arg-type]
        if call is None:
            return False
        call.answer = message
        call.done.set()
        return True

    def abandon(self) -> None:
        """Stdin ended: no answer will come; wake every waiting call."""
        with self._lock:
            calls = list(self._pending.values())
            self._pending.clear()
        for call in calls:
            call.done.set()


def parse_line(line: bytes) -> JsonObject | None:
    """Parse one line from the bridge; log and return ``None`` when it is unusable."""
    stripped = line.strip()
    if not stripped:
        return None
    try:
        message = orjson.loads(stripped)
    except orjson.JSONDecodeError as exc:
        log.warning("ignoring a line that is not JSON (%s): %r", exc, stripped[:200])
        return None
    if not isinstance(message, dict):
        log.warning("ignoring a JSON line that is not an object: %r", stripped[:200])
        return None
    return message


def read_stdin(stream: BinaryIO, inbox: Inbox) -> None:
    """Body of the reader thread: parse lines, act on cancels, queue the rest."""
    try:
        while line := stream.readline():
            message = parse_line(line)
            if message is None:
                continue
            if message.get("method") == "session/cancel":
                log.debug("session/cancel received")
                inbox.cancel_prompts()
                if "id" not in message:  # a notification, as it should be
                    continue
            if "method" not in message and "id" in message and inbox.calls.resolve(message):
                continue  # the answer to one of our requests: the waiting turn takes it
            inbox.put(message)
    except (OSError, ValueError) as exc:  # ValueError: the stream was closed under us
        log.warning("stopped reading stdin: %s", exc)
    finally:
        inbox.close()
