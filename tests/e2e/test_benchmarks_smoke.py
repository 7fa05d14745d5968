"""The benchmark suite runs (with small counts) and prints its whole table; speed is not tested."""

from __future__ import annotations

import subprocess
import sys

import pytest
from support.paths import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

RUN = REPO_ROOT / "benchmarks" / "run.py"


def test_the_benchmarks_run_and_print_every_measure_against_peer_and_floor() -> None:
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick"],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    header, *rows = table
    assert "ours/peer" in header
    assert "ours/floor" in header
    measures = [row.split("|")[1].strip() for row in rows]
    for expected in (
        "throughput",
        "latency p50 at 100 ev/s",
        "latency p99 at 10,000 ev/s",
        "cold start to initialize answer",
        "cold start to session/new answer",
        "peak RSS streaming",
        "session/load of",
        "peak RSS loading",
    ):
        assert any(m.startswith(expected) for m in measures), (expected, measures)
    throughput = rows[0].split("|")
    assert all(cell.strip() != "-" for cell in throughput[2:7]), rows[0]
