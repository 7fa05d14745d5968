"""The example VM's JSON-RPC link to the bridge: stdout, the stdin reader, its own requests.

Two threads meet here. The main thread plays turns and is the only writer of stdout
(:class:`Wire`). The reader thread (:func:`read_stdin`) splits stdin into lines with
:class:`~acp_bridge.jsonrpc.framing.LineDecoder` and classifies each one once with
:func:`acp_bridge.jsonrpc.messages.parse_line`; it acts on ``session/cancel`` at once,
hands answers to the VM's own requests (:class:`Calls`) to the turn waiting for them, and
queues requests in the :class:`Inbox` for the main thread, in order. Every envelope is
built by :mod:`acp_bridge.jsonrpc.messages`.

Rule: only the main thread writes to the wire; the reader thread never answers anything.
A line that cannot be answered (no readable id: not JSON, not an object, a broken
notification or response) is logged on stderr and dropped; an invalid request with an id
is queued, and the main loop answers it with the error its classification carries.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from acp_bridge.jsonrpc.framing import LineDecoder, LineTooLong
from acp_bridge.jsonrpc.messages import (
    PARSE_ERROR,
    Invalid,
    JsonObject,
    Notification,
    Request,
    RequestId,
    Response,
    encode,
    error_response,
    notification,
    parse_line,
    request,
    result_response,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO

log = logging.getLogger(__name__)

#: The longest line read from the bridge: above the 32 MiB it accepts from an editor by
#: default, so that every answer it forwards (a whole file, say) fits.
MAX_LINE_BYTES: Final = 64 * 1024 * 1024
READ_BYTES: Final = 64 * 1024  # how much one read of stdin asks for


class Wire:
    """The VM's stdout: one JSON-RPC message per line."""

    def __init__(self, out: BinaryIO) -> None:
        """Write to ``out`` (the process's stdout, or a buffer in tests)."""
        self._out = out

    def send(self, message: JsonObject) -> None:
        """Write one message as one line and flush it."""
        self._out.write(encode(message))
        self._out.flush()

    def answer(self, msg_id: RequestId, result: Any) -> None:
        """Answer a request with a result."""
        self.send(result_response(msg_id, result))

    def refuse(self, msg_id: RequestId | None, code: int, message: str) -> None:
        """Answer a request with an error."""
        self.send(error_response(msg_id, code, message))

    def notify(self, method: str, params: JsonObject) -> None:
        """Send a notification."""
        self.send(notification(method, params))


@dataclass(frozen=True, slots=True)
class Incoming:
    """A request from the bridge (or one to refuse), with the flag that cancels a prompt."""

    message: Request | Invalid
    cancelled: threading.Event


class Inbox:
    """What the stdin reader thread hands to the main thread.

    Requests are queued in order and handled one at a time, so a prompt that arrives while
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

    def put(self, message: Request | Invalid) -> None:
        """Queue a request; a prompt's cancel flag is registered until it is answered."""
        cancelled = threading.Event()
        if isinstance(message, Request) and message.method == "session/prompt":
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
    answer: Response | None = None


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
        self._pending: dict[RequestId, Call] = {}

    def start(self, method: str, params: JsonObject) -> Call:
        """Send a request; the returned call is done once it is answered (or abandoned)."""
        call = Call(method)
        with self._lock:
            msg_id = next(self._ids)
            self._pending[msg_id] = call
        self._wire.send(request(msg_id, method, params))
        return call

    def resolve(self, response: Response) -> bool:
        """Hand an answer to its call; ``False`` if no request of ours has that id."""
        if response.id is None:
            return False
        with self._lock:
            call = self._pending.pop(response.id, None)
        if call is None:
            return False
        call.answer = response
        call.done.set()
        return True

    def abandon(self) -> None:
        """Stdin ended: no answer will come; wake every waiting call."""
        with self._lock:
            calls = list(self._pending.values())
            self._pending.clear()
        for call in calls:
            call.done.set()


def read_stdin(read: Callable[[int], bytes], inbox: Inbox) -> None:
    """Body of the reader thread: split lines, act on cancels, queue requests.

    Args:
        read: ``read(n)`` returns up to ``n`` bytes as soon as some arrived, ``b""`` at the
            end of the input (``os.read`` on stdin's descriptor).
        inbox: Where requests go, and what is closed when the input ends.
    """
    decoder = LineDecoder(max_line_bytes=MAX_LINE_BYTES)
    try:
        while data := read(READ_BYTES):
            for line in decoder.feed(data):
                take_line(line, inbox)
        if (last := decoder.eof()) is not None:
            take_line(last, inbox)
    except OSError as exc:
        log.warning("stopped reading stdin: %s", exc)
    finally:
        inbox.close()


def take_line(line: bytes | LineTooLong, inbox: Inbox) -> None:
    """Classify one line from the bridge and act on it (see the module's rule)."""
    if isinstance(line, LineTooLong):
        log.warning("ignoring a line of %d bytes (the limit is %d)", line.length, MAX_LINE_BYTES)
        return
    if not line.strip():
        return
    match parse_line(line):
        case Invalid(code=code, message=why) if code == PARSE_ERROR:
            log.warning("ignoring a line that is not JSON (%s): %r", why, line[:200])
        case Invalid(answerable=True, id=msg_id) as invalid if msg_id is not None:
            inbox.put(invalid)
        case Invalid(message=why):
            log.warning("ignoring a message that is not JSON-RPC (%s): %r", why, line[:200])
        case Response(id=msg_id) as response:
            if not inbox.calls.resolve(response):  # else: the waiting turn takes it
                log.warning("ignoring a response to a request never sent (id %r)", msg_id)
        case Notification(method="session/cancel"):
            log.debug("session/cancel received")
            inbox.cancel_prompts()
        case Notification(method=method):
            log.info("ignoring the notification %s", method)
        case Request(method=method) as call:
            if method == "session/cancel":  # sent as a request: cancel now, answer in turn
                log.debug("session/cancel received")
                inbox.cancel_prompts()
            inbox.put(call)
