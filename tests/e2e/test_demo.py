"""``acp-bridge demo``: the README's first command, end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_demo_shows_a_whole_turn_plainly_when_piped_and_says_where_the_log_is(
    tmp_path: Path,
) -> None:
    (tmp_path / "README.md").write_text("# Sample project\n\nHello.\n")
    logs = tmp_path / "logs"
    result = subprocess.run(
        [sys.executable, "-m", "acp_bridge", "--log-dir", str(logs), "demo", "What is this?"],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
        env={**os.environ, "ACP_BRIDGE_EXAMPLE_PACE": "0"},
    )
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "\x1b[" not in out  # no colour when piped
    assert "you > What is this?" in out
    assert "Read README.md" in out
    assert "[turn ended: end_turn]" in out
    log_line = next(line for line in out.splitlines() if line.startswith("Event log: "))
    log_path = Path(log_line.removeprefix("Event log: "))
    assert log_path.parent == logs
    assert log_path.exists()
    replay = subprocess.run(
        [sys.executable, "-m", "acp_bridge", "replay", str(log_path)],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert b"Sample project" in replay.stdout


def test_demo_answers_permission_requests_and_shows_what_was_run_and_written(
    tmp_path: Path,
) -> None:
    (tmp_path / "README.md").write_text("# Sample project\n\nHello.\n")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "acp_bridge", "--log-dir", str(tmp_path / "logs")),
            *("demo", "Run `echo from-the-demo` and write notes"),
        ],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
        env={**os.environ, "ACP_BRIDGE_EXAMPLE_PACE": "0"},
    )
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "? permission for Run `echo from-the-demo`: allowed once by the demo" in out
    assert "    $ from-the-demo" in out.splitlines()  # the command's output as it streamed
    # The permission request names the card by its one title (the tool call's own).
    [asked] = [line for line in out.splitlines() if "? permission for Edit " in line]
    assert asked.endswith(": allowed once by the demo")
    assert "│ + # Notes from acp-bridge's example agent" in out
    assert "[turn ended: end_turn]" in out
    assert "from-the-demo" in (tmp_path / "acp-bridge-notes.md").read_text()


def run_demo_tour(tmp_path: Path) -> str:
    """``acp-bridge demo`` without a prompt: the default question, then ``/files`` in auto mode."""
    (tmp_path / "README.md").write_text("# Sample project\n\nHello.\n")
    result = subprocess.run(
        [sys.executable, "-m", "acp_bridge", "--log-dir", str(tmp_path / "logs"), "demo"],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
        env={**os.environ, "ACP_BRIDGE_EXAMPLE_PACE": "0"},
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def test_demo_shows_the_commands_mode_model_and_title_and_runs_a_command_in_auto_mode(
    tmp_path: Path,
) -> None:
    out = run_demo_tour(tmp_path)
    lines = out.splitlines()
    commands = "commands: /help, /files, /run <command to run>, /notes <what to note>, /mode"
    assert any(line.startswith(commands) for line in lines), out
    assert "model: Thorough (or Brief)" in lines
    assert "mode: Ask (or Auto)" in lines
    assert "title: What is in this directory, and where should I start reading?" in lines
    # The set_config_option round trip: the complete list comes back with the new mode.
    chose = lines.index("(the demo sets mode to auto)")
    assert lines[chose + 1 :].index("mode: Auto (or Ask)") < lines[chose + 1 :].index(
        "you > /files"
    )
    assert lines.count("[turn ended: end_turn]") == 2
    assert "? permission" not in out  # auto mode: nobody is asked
    assert "✓ Run `ls -la` completed" in out
    assert "README.md" in out.split("you > /files", 1)[1]


def test_demo_shows_usage_a_notice_and_the_command_output_as_it_streams(tmp_path: Path) -> None:
    out = run_demo_tour(tmp_path)
    lines = out.splitlines()
    usage = [line for line in lines if line.startswith("usage: ")]
    assert len(usage) == 2, out  # one per turn
    assert " of 200,000 tokens (" in usage[0]
    assert usage[0].endswith(" USD so far")
    assert "! info: Run `ls -la`: not asking (auto mode)" in out
    assert "    $ [exit status 0]" in lines
    assert any(line.startswith("    $ ") and line.endswith(" README.md") for line in lines), out
