"""The command line's serving options: every default is Settings' own; demo passes all on."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from acp_bridge.cli.main import _parser
from acp_bridge.cli.options import demo_bridge_args, settings_from
from acp_bridge.eventlog.rotation import FsyncPolicy, RotationPolicy
from acp_bridge.settings import MIB, Settings


def parse(*words: str) -> argparse.Namespace:
    return _parser().parse_args(list(words))


def test_no_options_means_the_settings_defaults(tmp_path: Path) -> None:
    settings = settings_from(parse("--vm-exec", "true"), tmp_path)
    assert settings == Settings(vm_mode="exec", vm_argv=("true",), log_dir=tmp_path)


def test_every_serving_option_reaches_the_settings(tmp_path: Path) -> None:
    args = parse(
        "--vm",
        "my-vm --flag",
        "--log-dir",
        str(tmp_path / "x"),
        "--harn-extensions",
        "--fsync",
        "always",
        "--editor-timeout",
        "7",
        "--allow-outside-cwd",
        "--vm-env-allow",
        "PATH,LC_*",
        "--vm-env-allow",
        "HOME",
        "--max-vm-line-mib",
        "2",
        "--max-segment-mib",
        "3",
    )
    assert settings_from(args, tmp_path) == Settings(
        vm_mode="session",
        vm_argv=("my-vm", "--flag"),
        log_dir=tmp_path / "x",
        harn_extensions=True,
        fsync=FsyncPolicy(mode="always"),
        editor_timeout_s=7.0,
        allow_outside_cwd=True,
        vm_env_allow=("PATH", "LC_*", "HOME"),
        max_vm_line_bytes=2 * MIB,
        rotation=RotationPolicy(max_segment_bytes=3 * MIB),
    )


@pytest.mark.parametrize("prompt", [None, "what is here?", "demo"])
def test_demo_gives_its_bridge_every_word_before_it(prompt: str | None) -> None:
    before = ["--vm", "demo", "--editor-timeout", "5", "--allow-outside-cwd", "--fsync", "never"]
    words = [*before, "demo", *([] if prompt is None else [prompt])]
    args = parse(*words)
    assert args.command == "demo"
    assert demo_bridge_args(words, args.prompt) == before


def test_the_public_api_loads_lazily() -> None:
    import acp_bridge

    assert set(acp_bridge.__all__) == {
        "FsyncPolicy",
        "RotationPolicy",
        "Settings",
        "run",
        "__version__",
    }
    assert acp_bridge.Settings is Settings
    assert callable(acp_bridge.run)
    with pytest.raises(AttributeError):
        _ = acp_bridge.nothing_here
