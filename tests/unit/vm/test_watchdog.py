"""The VM watchdog program: what it takes from the bridge, and what it does at EOF."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from acp_bridge.vm import watchdog
from acp_bridge.vm.lifeline import watchdog_command

#: Ignores SIGTERM, then says so on stdout, then sleeps.
STUBBORN = (
    "import signal, time; signal.signal(15, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(600)"
)


def test_lines_list_and_unlist_groups_and_bad_lines_are_skipped() -> None:
    groups: dict[int, None] = {}
    for line in (b"+10", b"+11", b"-10", b"", b"bogus", b"+1", b"+0", b"-x", b"+12 "):
        watchdog.apply(line, groups)
    assert list(groups) == [11, 12]


def test_at_eof_it_stops_the_listed_groups_even_those_ignoring_sigterm() -> None:
    stubborn = subprocess.Popen(
        [sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, start_new_session=True
    )
    spared = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    read_fd, write_fd = os.pipe()
    dog = subprocess.Popen(
        watchdog_command(0.3),
        stdin=read_fd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    os.close(read_fd)
    try:
        assert stubborn.stdout is not None
        assert stubborn.stdout.readline() == b"ready\n"  # SIGTERM is ignored from here on
        os.write(write_fd, b"+%d\n+999999\n-999999\n" % stubborn.pid)
        os.close(write_fd)  # the bridge is gone
        write_fd = -1
        assert dog.wait(20) == 0
        assert stubborn.wait(20) == -signal.SIGKILL
        assert spared.poll() is None  # not listed: not touched
        assert dog.stderr is not None
        said = dog.stderr.read().decode()
        assert f"left 1 VM process group(s) running: {stubborn.pid}" in said
        assert "SIGKILL sent to 1 group(s)" in said
    finally:
        if write_fd >= 0:
            os.close(write_fd)
        for child in (stubborn, spared, dog):
            if child.poll() is None:
                child.kill()
            child.wait(5)
            for stream in (child.stdout, child.stderr):
                if stream is not None:
                    stream.close()
