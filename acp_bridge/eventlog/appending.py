"""What every ``EventLog`` backend does around an append, whatever it appends to.

Both backends (:mod:`acp_bridge.eventlog.writer`, :mod:`acp_bridge.eventlog.memory`) stamp
records with the wall clock and turn failures into counts and log lines the same way.

Rules:

- A failure is never raised to the appender: :class:`Failures` counts every one in
  ``Counters.eventlog_write_failures`` and logs each distinct cause once, until the
  operation works again (then it says so, with the number of repeats).
- Nothing here touches a file.
"""

from __future__ import annotations

import errno
import logging
import time
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from acp_bridge.counters import Counters
    from acp_bridge.errors import EventLogError

LOGGER: Final = logging.getLogger("acp_bridge.eventlog")


def wall_clock_ms() -> int:
    """Return the wall clock in whole milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def closed_error() -> OSError:
    """The error an append to a closed log fails with (``EBADF``)."""
    return OSError(errno.EBADF, "event log is closed")


class Failures:
    """Counts every failure and logs each distinct cause once until that operation succeeds.

    Every failed operation bumps ``eventlog_write_failures``: a record not stored (append,
    encode, truncate), records not made durable (fsync, close), or a segment going on past
    its cap (rotate). A failure counted elsewhere (a refused file) is logged with
    ``records=0``.

    Attributes:
        counters: Where failures are counted.
        logger: Where they are logged.
        where: What the log lines name (the segment file, or ``<memory>``).
        last_error: The ``OSError`` of the latest failed append, or None once one succeeds.
    """

    _CONSEQUENCE: Final = {
        "fsync": "records may not be durable",
        "close": "file left open",
        "rotate": "the segment goes on past its cap",
    }

    def __init__(self, counters: Counters, logger: logging.Logger, where: str) -> None:
        """Start with nothing failed."""
        self.counters = counters
        self.logger = logger
        self.where = where
        self.last_error: OSError | None = None
        self._quiet: dict[str, int] = {}  # "op:cause" -> failures since it was logged

    def failed(self, op: str, exc: OSError | TypeError | EventLogError, records: int = 1) -> None:
        """Count ``records`` failures of ``op``; log the cause unless it is already logged."""
        self.counters.eventlog_write_failures += records
        if isinstance(exc, OSError):
            self.last_error = exc
            key = f"{op}:errno {exc.errno}"
        else:
            key = f"{op}:{type(exc).__name__}"
        if key in self._quiet:
            self._quiet[key] += 1
            return
        self._quiet[key] = 1
        self.logger.error(
            "event log %s: %s failed, %s: %s (repeats are counted, not logged, until it works)",
            self.where,
            op,
            self._CONSEQUENCE.get(op, "record not stored"),
            exc,
        )

    def succeeded(self, op: str) -> None:
        """``op`` worked: say so for each cause that had failed, and forget them."""
        if op == "append":
            self.last_error = None
        if not self._quiet:
            return
        for key in [k for k in self._quiet if k.startswith(op + ":")]:
            count = self._quiet.pop(key)
            self.logger.warning(
                "event log %s: %s works again after %d failure(s) (%s)",
                self.where,
                op,
                count,
                key,
            )
