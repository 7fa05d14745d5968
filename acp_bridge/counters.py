"""Named counters for everything the bridge tolerates instead of failing on.

Rule: every input the bridge rejects, skips or cannot store bumps exactly one counter here,
at exactly one site, so that nothing is lost silently. One ``Counters`` instance belongs to
one bridge (or one replay run); there are no module-level globals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Mapping

#: The name of one counter: a field of :class:`Counters` (a test keeps the two in step).
CounterName: TypeAlias = Literal[
    "editor_parse_errors",
    "editor_invalid_requests",
    "editor_unknown_methods",
    "editor_notification_errors",
    "editor_unexpected_responses",
    "editor_overlong_lines",
    "editor_refused_requests",
    "editor_call_timeouts",
    "editor_slow_calls",
    "editor_requests_over_limit",
    "editor_stray_cancels",
    "editor_input_pauses",
    "editor_output_abandoned",
    "vm_undecodable_lines",
    "vm_unknown_event_types",
    "vm_overlong_lines",
    "vm_invalid_events",
    "vm_forged_records",
    "vm_events_outside_turn",
    "vm_bad_answers",
    "vm_refused_requests",
    "vm_requests_over_limit",
    "vm_stderr_lines_suppressed",
    "vm_stdout_closed_early",
    "vm_leftover_processes",
    "vm_stdout_held_open",
    "vm_watchdog_failures",
    "vm_failures",
    "updates_after_cancel",
    "translation_repairs",
    "eventlog_write_failures",
    "eventlog_torn_tails",
    "eventlog_corrupt_lines",
    "eventlog_open_failures",
    "eventlog_unsafe_files",
    "eventlog_unlisted_logs",
    "eventlog_stale_choices",
    "handler_unexpected_exceptions",
]


@dataclass(slots=True)
class Counters:
    """Monotonic counts of tolerated faults, reported at exit and on request."""

    # Editor side (JSON-RPC over stdin).
    editor_parse_errors: int = 0
    editor_invalid_requests: int = 0
    editor_unknown_methods: int = 0
    editor_notification_errors: int = 0
    editor_unexpected_responses: int = 0
    editor_overlong_lines: int = 0
    editor_refused_requests: int = 0  # well-formed, but refused: bad params, unknown session
    editor_call_timeouts: int = 0  # the editor never answered a request made for a VM
    editor_slow_calls: int = 0  # a request made for a VM waited long (reported on stderr)
    editor_requests_over_limit: int = 0  # more requests in flight than the bound: refused
    editor_stray_cancels: int = 0  # $/cancel_request naming one of the bridge's requests
    editor_input_pauses: int = 0  # stdin left unread while answers wait for the editor
    editor_output_abandoned: int = 0  # at shutdown, a write the editor never read was dropped
    # VM side (AgentEvent lines).
    vm_undecodable_lines: int = 0
    vm_unknown_event_types: int = 0
    vm_overlong_lines: int = 0
    vm_invalid_events: int = 0
    vm_forged_records: int = 0  # an event of the bridge's own record type: kept as undecodable
    vm_events_outside_turn: int = 0
    vm_bad_answers: int = 0
    vm_refused_requests: int = 0  # asked the editor for what it may not (capability, path)
    vm_requests_over_limit: int = 0  # more requests waiting for the editor than the bound
    vm_stderr_lines_suppressed: int = 0  # copied to our stderr only up to a rate
    vm_stdout_closed_early: int = 0  # closed stdout, kept running: stopped
    vm_leftover_processes: int = 0  # exited leaving processes in its group: stopped
    vm_stdout_held_open: int = 0  # exited, stdout still open after the grace: reading ended
    vm_watchdog_failures: int = 0  # the VM watchdog could not start, died or stopped reading
    vm_failures: int = 0
    updates_after_cancel: int = 0
    # Translation.
    translation_repairs: int = 0
    # Event log.
    eventlog_write_failures: int = 0
    eventlog_torn_tails: int = 0
    eventlog_corrupt_lines: int = 0
    eventlog_open_failures: int = 0
    eventlog_unsafe_files: int = 0  # a link or non-regular file named like a log: refused
    eventlog_unlisted_logs: int = 0  # a log no session id leads to (renamed, orphaned)
    eventlog_stale_choices: int = 0  # a logged mode or option value the manifest no longer has
    # The one exception-to-wire boundary.
    handler_unexpected_exceptions: int = 0

    def add(self, counts: Mapping[CounterName, int]) -> None:
        """Add ``counts`` (counter name to how many) to the counters they name."""
        for name, count in counts.items():
            setattr(self, name, getattr(self, name) + count)

    def snapshot(self) -> dict[str, int]:
        """Return a copy of every counter by name."""
        return asdict(self)

    def nonzero(self) -> dict[str, int]:
        """Return only the counters that have been bumped."""
        return {name: value for name, value in asdict(self).items() if value}
