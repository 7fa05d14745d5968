"""The VM watchdog program: what it takes from the bridge, and what it does at EOF."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from acp_bridge.vm import watchdog
from acp_bridge.vm.lifeline import watchdog_command


def test_lines_list_and_unlist_groups_and_bad_lines_are_skipped() -> None:
    groups: dict[int, None] = {}
    for line in (b"+10", b"+11", b"-10", b"", b"bogus", b"+1", b"+0", b"-x", b"+12 "):
        watchdog.apply(line, groups)
    assert list(groups) == [11, 12]


def test_at_eof_it_stops_the_listed_groups_even_those_ignoring_sigterm() -> None:
    stubborn = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(15, 1); time.sleep(600)"],
        start_new_session=True,
    )
    spared = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    read_fd, write_fd = os.pipe()
    try:
        dog = subprocess.Popen(
            watchdog_command(0.3),
            stdin=read_fd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        os.close(read_fd)
        time.sleep(0.3)  # the stubborn child sets its SIGTERM handler meanwhile
        os.write(write_fd, b"+%d\n+999999\n-999999\n" % stubborn.pid)
        os.close(write_fd)  # the bridge is gone
        assert dog.wait(20) == 0
        assert stubborn.wait(20) == -signal.SIGKILL
        assert spared.poll() is None  # not listed: not touched
        assert dog.stderr is not None
        said = dog.stderr.read().decode()
        assert f"left 1 VM process group(s) running: {stubborn.pid}" in said
        assert "SIGKILL sent to 1 group(s)" in said
        dog.stderr.close()
    finally:
        for child in (stubborn, spared):
            if child.poll() is None:
                child.kill()
                child.wait(5)
