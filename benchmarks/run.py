"""acp-bridge side by side with the floor and a peer: one command, one table.

    .venv/bin/python benchmarks/run.py            # the full run (several minutes)
    .venv/bin/python benchmarks/run.py --quick    # small counts: does everything work?

Every figure is measured in the same run for three agents driven by the same reading
client (``benchmarks/client.py``):

* **ours**: ``acp-bridge --vm-exec 'cat EVENTS'`` with its event log on (every record
  written to the file as it arrives, fsync on the default interval);
* **peer**: ``benchmarks/peer_agent.py``, a minimal agent on the official ACP Python SDK
  that runs the same VM and forwards each event as a ``session/update`` (no log);
* **floor**: ``cat`` of the ACP lines themselves (the client's handshake is ignored), i.e.
  what a pipe and the reading client cost with no agent at all.

It prints ratios (ours / peer, ours / floor), since absolute figures drift on shared
machines. See ``docs/performance.md`` for the targets and the last full run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from client import Measured, cold_start_once, drive, drive_slowly, load_session  # noqa: E402

PYTHON = sys.executable
PEER = [PYTHON, str(HERE / "peer_agent.py")]
PACED_VM = [PYTHON, str(HERE / "paced_vm.py")]
SESSION = "bench-session"
STACK_IMPORT = "import pygls.protocol, pygls.server, lsprotocol.types, pydantic, anyio"


# --------------------------------------------------------------------------- inputs


def realistic_events(count: int) -> list[dict[str, Any]]:
    """Mostly short message chunks; a thought now and then; a tool call every 100 events."""
    events: list[dict[str, Any]] = []
    i = 0
    while len(events) < count:
        i += 1
        if i % 100 == 0:
            call = f"call_{i}"
            events.append(
                {
                    "type": "tool_call",
                    "session_id": SESSION,
                    "tool_call_id": call,
                    "tool_name": "read_file",
                    "raw_input": {"path": f"src/module_{i}.py"},
                }
            )
            events.append(
                {
                    "type": "tool_call_update",
                    "session_id": SESSION,
                    "tool_call_id": call,
                    "tool_name": "read_file",
                    "status": "completed",
                    "raw_output": {"text": "def f():\n    return 1\n"},
                }
            )
        elif i % 25 == 0:
            events.append({"type": "agent_thought_chunk", "session_id": SESSION, "content": "hm "})
        else:
            events.append(
                {"type": "agent_message_chunk", "session_id": SESSION, "content": f"tok{i} "}
            )
    return events[:count]


def write_vm_stream(path: Path, events: list[dict[str, Any]]) -> None:
    with path.open("w") as f:
        for event in events:
            f.write(json.dumps(event) + "\n")


def write_floor_stream(path: Path, count: int) -> None:
    """What the client reads from an agent: ``count`` updates, then the prompt's answer."""
    update = {
        "jsonrpc": "2.0",
        "method": "session/update",
        "params": {
            "sessionId": SESSION,
            "update": {
                "sessionUpdate": "agent_message_chunk",
                "content": {"type": "text", "text": "tok "},
            },
        },
    }
    answers = [
        {"jsonrpc": "2.0", "id": 0, "result": {"protocolVersion": 1}},
        {"jsonrpc": "2.0", "id": 1, "result": {"sessionId": SESSION}},
    ]
    with path.open("w") as f:
        for answer in answers:
            f.write(json.dumps(answer) + "\n")
        line = json.dumps(update) + "\n"
        for _ in range(count):
            f.write(line)
        f.write(json.dumps({"jsonrpc": "2.0", "id": 2, "result": {"stopReason": "end_turn"}}))
        f.write("\n")


def ours(log_dir: Path, vm: list[str]) -> list[str]:
    return [PYTHON, "-m", "acp_bridge", "--log-dir", str(log_dir), "--vm-exec", shlex.join(vm)]


def peer(vm: list[str]) -> list[str]:
    return [*PEER, "--", *vm]


# --------------------------------------------------------------------------- the table


@dataclass
class Row:
    name: str
    unit: str
    ours: float | None
    peer: float | None
    floor: float | None
    target: str
    higher_is_better: bool

    def ratio(self, other: float | None) -> str:
        if self.ours is None or other is None or other == 0:
            return "-"
        return f"{self.ours / other:.2f}"

    def cells(self) -> list[str]:
        return [
            self.name,
            _fmt(self.ours, self.unit),
            _fmt(self.peer, self.unit),
            _fmt(self.floor, self.unit),
            self.ratio(self.peer),
            self.ratio(self.floor),
            self.target,
        ]


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ev/s":
        return f"{value:,.0f} ev/s"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "MiB":
        return f"{value:.0f} MiB"
    if unit == "updates":
        return f"{value:,.0f}"
    return f"{value:.3g} {unit}"


def print_table(rows: list[Row]) -> None:
    header = ["measure", "ours", "peer", "floor", "ours/peer", "ours/floor", "target"]
    table = [header, *(row.cells() for row in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for n, cells in enumerate(table):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


# --------------------------------------------------------------------------- measures


def throughput(tmp: Path, count: int, repeats: int = 1) -> list[Row]:
    """Each agent ``repeats`` times, in turns; the median run of each (one stall is noise)."""
    stream = tmp / "events.jsonl"
    write_vm_stream(stream, realistic_events(count))
    floor_stream = tmp / "floor.jsonl"
    write_floor_stream(floor_stream, count)
    vm = ["cat", str(stream)]
    argvs = {
        "ours": ours(tmp / "logs-throughput", vm),
        "peer": peer(vm),
        "floor": ["cat", str(floor_stream)],
    }
    runs: dict[str, list[Measured]] = {name: [] for name in argvs}
    for _ in range(repeats):
        for name, argv in argvs.items():
            got = drive(argv)
            if got.events < count * 0.99:
                raise SystemExit(f"{name}: {got.events} events delivered of {count}")
            runs[name].append(got)
    median = {name: sorted(got, key=lambda m: m.rate)[len(got) // 2] for name, got in runs.items()}
    return [
        Row(
            f"throughput, {count:,} events (log on)",
            "ev/s",
            median["ours"].rate,
            median["peer"].rate,
            median["floor"].rate,
            ">= 200,000 ev/s and >= 5x peer",
            True,
        ),
        Row(
            f"peak RSS streaming {count:,} events",
            "MiB",
            median["ours"].peak_rss_mib,
            median["peer"].peak_rss_mib,
            None,
            "<= 100 MiB",
            False,
        ),
    ]


def slow_editor(tmp: Path, count: int) -> list[Row]:
    """An editor reading 64 KiB every 2 ms: how many notifications reach it.

    Ours merges text chunks once the editor falls behind; the peer sends every one.
    """
    stream = tmp / "slow-events.jsonl"
    write_vm_stream(stream, realistic_events(count))
    vm = ["cat", str(stream)]
    got_ours = drive_slowly(ours(tmp / "logs-slow", vm), 0.002)
    got_peer = drive_slowly(peer(vm), 0.002)
    return [
        Row(
            f"slow editor: updates sent for {count:,} events",
            "updates",
            got_ours.updates,
            got_peer.updates,
            float(count),
            "fewer than events",
            False,
        ),
        Row(
            f"slow editor: time to deliver {count:,} events",
            "s",
            got_ours.seconds,
            got_peer.seconds,
            None,
            "",
            False,
        ),
    ]


def latency(tmp: Path, rate: int, count: int, repeats: int) -> list[Row]:
    """p50 and p99 of each agent; the median over ``repeats`` runs (one stall is noise)."""
    vm = [*PACED_VM, "--rate", str(rate), "--count", str(count)]
    argvs = {
        "ours": ours(tmp / f"logs-latency-{rate}", vm),
        "peer": peer(vm),
        "floor": [*vm, "--acp"],
    }
    runs: dict[str, list[Measured]] = {name: [] for name in argvs}
    for _ in range(repeats):  # interleaved, so that a busy moment hits every agent alike
        for name, argv in argvs.items():
            runs[name].append(drive(argv, latency=True))

    def median_of(name: str, q: int) -> float | None:
        values = [v for m in runs[name] if (v := m.percentile(q)) is not None]
        return statistics.median(values) if values else None

    target = "<= 2 ms" if rate <= 100 else "<= 20 ms"
    return [
        Row(
            f"latency p{q} at {rate:,} ev/s",
            "ms",
            median_of("ours", q),
            median_of("peer", q),
            median_of("floor", q),
            target if q == 99 else "",
            False,
        )
        for q in (50, 99)
    ]


def cold(tmp: Path, runs: int) -> list[Row]:
    """Interleaved rounds (bare import, ours, peer), so that drift hits all three alike."""
    bare: list[float] = []
    ours_init: list[float] = []
    ours_new: list[float] = []
    peer_init: list[float] = []
    peer_new: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([PYTHON, "-c", STACK_IMPORT], check=True)
        bare.append((time.perf_counter() - started) * 1000)
        for argv, to_init, to_new in (
            (ours(tmp / "logs-cold", ["true"]), ours_init, ours_new),
            (peer(["true"]), peer_init, peer_new),
        ):
            init, new = cold_start_once(argv)
            to_init.append(init)
            to_new.append(new)
    median = statistics.median
    return [
        Row(
            "cold start to initialize answer",
            "ms",
            median(ours_init),
            median(peer_init),
            median(bare),
            "<= peer and <= bare import + 100 ms",
            False,
        ),
        Row(
            "cold start to session/new answer",
            "ms",
            median(ours_new),
            median(peer_new),
            None,
            "",
            False,
        ),
    ]


def replay(tmp: Path, count: int, repeats: int = 1) -> list[Row]:
    sys.path.insert(0, str(HERE))
    from sessions import SESSION as LOADED
    from sessions import write_log

    log_dir = tmp / "logs-replay"
    log_dir.mkdir()
    write_log(log_dir, count)
    runs = sorted(
        (load_session(ours(log_dir, ["true"]), LOADED) for _ in range(repeats)),
        key=lambda m: m.rate,
    )
    got = runs[len(runs) // 2]
    return [
        Row(f"session/load of {count:,} events", "ev/s", got.rate, None, None, ">= 200,000", True),
        Row(
            f"peak RSS loading {count:,} events",
            "MiB",
            max(m.peak_rss_mib or 0.0 for m in runs),
            None,
            None,
            "<= 100 MiB",
            False,
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small counts, to check it works")
    args = parser.parse_args()
    if args.quick:
        n_throughput, n_memory, n_replay, runs, per_rate = 2_000, 5_000, 5_000, 1, 200
    else:
        n_throughput, n_memory, n_replay, runs, per_rate = 200_000, 1_000_000, 1_000_000, 3, 0
    # Byte-compile acp_bridge as an installed package is (the stack and the peer's SDK in
    # site-packages are); an editable checkout may hold stale or no bytecode, and then
    # every start compiles (about 150 ms of cold start here).
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(HERE.parent / "acp_bridge")], check=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="acp-bench-") as name:
        tmp = Path(name)
        rows += throughput(tmp, n_throughput, 1 if args.quick else 3)
        rows += latency(tmp, 100, per_rate or 500, runs if not args.quick else 1)
        rows += latency(tmp, 10_000, per_rate or 20_000, 3 if not args.quick else 1)
        rows += slow_editor(tmp, n_throughput)
        rows += cold(tmp, 1 if args.quick else 9)
        rows += throughput(tmp, n_memory)[1:]  # the 1M-event streaming memory
        rows += replay(tmp, n_replay, 1 if args.quick else 3)
    print(
        f"acp-bridge benchmarks on {platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
