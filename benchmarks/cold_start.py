"""Cold start: from spawning ``acp-bridge`` to its ``initialize`` answer.

Prints the median over several runs next to the floor that cannot be beaten with the
requested stack: a bare ``python -c "import pygls, lsprotocol, pydantic, anyio"``.

    python benchmarks/cold_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

STACK = "import pygls.protocol, pygls.server, lsprotocol.converters, pydantic, anyio, orjson"
INITIALIZE = (
    json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {"protocolVersion": 1, "clientCapabilities": {}},
        }
    )
    + "\n"
).encode()


def bare_import() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", STACK], check=True)
    return time.perf_counter() - started


def to_initialize(log_dir: str) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "acp_bridge", "--log-dir", log_dir],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(INITIALIZE)
    proc.stdin.flush()
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - started
    assert json.loads(line)["id"] == 0
    proc.stdin.close()
    proc.wait(10)
    proc.stdout.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as log_dir:
        floor = statistics.median(bare_import() for _ in range(args.runs))
        ours = statistics.median(to_initialize(log_dir) for _ in range(args.runs))
    print(f"{'measure':<38}{'seconds':>10}")
    print(f"{'bare import of the stack (floor)':<38}{floor:>10.3f}")
    print(f"{'spawn -> initialize answer':<38}{ours:>10.3f}")
    print(f"{'ours - floor':<38}{ours - floor:>10.3f}")
    print(f"{'ours / floor':<38}{ours / floor:>10.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
