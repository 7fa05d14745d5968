"""What one side of a JSON-RPC link did wrong, as the peer reports it to its owner.

Rule: the peer only reports; what a problem costs (a counter, a log line) is the owner's
decision, since the same problem means different things from an editor and from a VM.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from acp_bridge.errors import RpcError


class Problem(Enum):
    """What the other side did wrong (or what went wrong here), for the owner to count."""

    PARSE_ERROR = "parse_error"  # not JSON
    INVALID = "invalid"  # JSON, but not a JSON-RPC message we can process
    UNEXPECTED_RESPONSE = "unexpected_response"  # an answer to nothing we asked
    UNKNOWN_METHOD = "unknown_method"
    DUPLICATE_ID = "duplicate_id"  # a request id already being handled
    BAD_NOTIFICATION = "bad_notification"  # a notification its handler refused
    REFUSED = "refused"  # a request its handler answered with an RpcError
    CRASHED = "crashed"  # a handler raised something unexpected: a bug
    UNENCODABLE = "unencodable"  # a result that cannot be written as JSON
    OVERLOADED = "overloaded"  # a request over the bound on requests in flight, refused
    STRAY_CANCEL = "stray_cancel"  # $/cancel_request naming one of this side's own requests


@dataclass(frozen=True, slots=True)
class Report:
    """One problem, with what the owner needs to count and log it.

    Attributes:
        problem: Its kind.
        message: A one-line description, for stderr.
        method: The method involved, when known.
        error: The refusal, for :attr:`Problem.REFUSED` and :attr:`Problem.BAD_NOTIFICATION`.
        exception: The exception, for :attr:`Problem.CRASHED`.
    """

    problem: Problem
    message: str
    method: str | None = None
    error: RpcError | None = None
    exception: BaseException | None = None
