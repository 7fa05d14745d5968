"""The installed ``acp-bridge`` command: the script entry point loads and runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path


def test_the_console_script_entry_point_is_the_cli_main() -> None:
    [script] = [e for e in entry_points(group="console_scripts") if e.name == "acp-bridge"]
    from acp_bridge.cli.main import main

    assert script.load() is main


def test_the_installed_command_answers_version() -> None:
    command = shutil.which("acp-bridge", path=str(Path(sys.executable).parent))
    assert command is not None, "acp-bridge is not installed beside this python"
    done = subprocess.run([command, "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("acp-bridge ")
