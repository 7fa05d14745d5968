"""The VM watchdog: a small program that stops a bridge's VMs once the bridge is gone.

One watchdog runs beside each bridge (started by :mod:`acp_bridge.vm.lifeline`). Its stdin
is a pipe whose only write end the bridge holds, and on it the bridge says which VM
process groups are alive: ``+PGID`` when a VM starts, ``-PGID`` once its group has been
stopped or found empty. When the pipe reaches its end, the bridge has exited, however it
exited (normally, ``os._exit``, ``SIGKILL``, the OOM killer): the kernel closes the
descriptors of a dead process, so EOF is the one notice that cannot be missed. The
watchdog then sends ``SIGTERM`` to every group still listed, ``SIGKILL`` to those still
alive a grace period later, says so on stderr, and exits.

Rules:

- The standard library only, nothing of the bridge: it runs as ``python -I -S`` on this
  file, so that it starts in about 10 ms and imports nothing the bridge could break.
- It writes nothing on stdout (the bridge starts it with stdout on ``/dev/null``) and
  ignores the terminal's signals (``SIGINT``, ``SIGHUP``): it runs in a session of its
  own and has a job only once the bridge is gone.
- A malformed line is reported on stderr and skipped; it never stops the watchdog.

Usage: ``python -I -S watchdog.py GRACE_SECONDS``.
"""

from __future__ import annotations

import os
import signal
import sys
import time

#: How often the groups are polled while they are given time to exit.
POLL_S = 0.05
_DEFAULT_GRACE_S = 2.0


def _say(message: str) -> None:
    """One line on stderr (the bridge's stderr, inherited)."""
    try:
        os.write(2, f"acp-bridge watchdog: {message}\n".encode("utf-8", "replace"))
    except OSError:
        return  # nowhere left to say it: the groups are still stopped


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to process group ``pgid``; False if nobody is left in it."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError as exc:
        _say(f"cannot signal process group {pgid}: {exc}")
        return False
    return True


def apply(line: bytes, groups: dict[int, None]) -> None:
    """Apply one line of the bridge's (``+PGID`` or ``-PGID``) to the listed groups."""
    text = line.strip()
    if not text:
        return
    sign, number = text[:1], text[1:]
    if sign not in (b"+", b"-") or not number.isdigit() or int(number) <= 1:
        _say(f"ignoring a line that is not +PGID or -PGID: {text[:80]!r}")
        return
    if sign == b"+":
        groups[int(number)] = None
    else:
        groups.pop(int(number), None)


def stop(groups: list[int], grace_s: float) -> list[int]:
    """SIGTERM every group, SIGKILL those still alive ``grace_s`` later; return those."""
    alive = [pgid for pgid in groups if signal_group(pgid, signal.SIGTERM)]
    deadline = time.monotonic() + grace_s
    while alive and time.monotonic() < deadline:
        time.sleep(POLL_S)
        alive = [pgid for pgid in alive if signal_group(pgid, 0)]
    for pgid in alive:
        signal_group(pgid, signal.SIGKILL)
    return alive


def watch(fd: int, grace_s: float, bridge_pid: int) -> int:
    """Follow the bridge's lines on ``fd`` until EOF, then stop what is still listed."""
    groups: dict[int, None] = {}
    pending = b""
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError as exc:
            _say(f"reading from the bridge failed ({exc}); treating it as gone")
            break
        if not data:
            break
        *lines, pending = (pending + data).split(b"\n")
        for line in lines:
            apply(line, groups)
    if not groups:
        return 0
    listed = list(groups)
    _say(
        f"the bridge (pid {bridge_pid}) left {len(listed)} VM process group(s) "
        f"running: {' '.join(map(str, listed))}; SIGTERM now, SIGKILL in {grace_s:g} s"
    )
    killed = stop(listed, grace_s)
    if killed:
        _say(f"SIGKILL sent to {len(killed)} group(s) that ignored SIGTERM")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the watchdog on stdin."""
    args = sys.argv[1:] if argv is None else argv
    try:
        grace_s = float(args[0]) if args else _DEFAULT_GRACE_S
    except ValueError:
        _say(f"bad grace period {args[0]!r}; using {_DEFAULT_GRACE_S:g} s")
        grace_s = _DEFAULT_GRACE_S
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    return watch(0, grace_s, os.getppid())


if __name__ == "__main__":
    raise SystemExit(main())
