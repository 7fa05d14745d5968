"""The serving options of the command line, and the one place their defaults come from.

Rule: every default is :class:`~acp_bridge.settings.Settings`' own (or its policies'); an
option the user did not give stays ``None`` here and :func:`settings_from` leaves that field
at its default, so the command line, an embedder's ``Settings(...)`` and ``demo`` can never
disagree. This module imports nothing heavy: ``--help`` stays fast.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from acp_bridge.eventlog.rotation import FsyncPolicy, RotationPolicy
from acp_bridge.settings import MIB, Settings

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from acp_bridge.settings import VmMode


def _default(cls: type, name: str) -> Any:
    """The default of dataclass field ``name`` of ``cls``."""
    return next(f.default for f in fields(cls) if f.name == name)


def add_serving_options(parser: argparse.ArgumentParser) -> None:
    """Add every option of a serving bridge (the VM command is added by the caller)."""
    parser.add_argument(
        "--log-dir", type=Path, help="where event logs go (default: the user state directory)"
    )
    parser.add_argument(
        "--vm-manifest",
        metavar="FILE",
        help="what the VM offers: a JSON manifest of its name, capabilities, modes, options "
        "and commands (protocol/vm/manifest.md); default: none, except for the built-in VM",
    )
    parser.add_argument(
        "--harn-extensions",
        action="store_true",
        default=None,
        help="Harn mode for every client: what Harn's own adapter sends (not valid ACP)",
    )
    parser.add_argument(
        "--fsync",
        choices=("never", "interval", "always"),
        help=f"when log writes are forced to disk (default: {_default(FsyncPolicy, 'mode')})",
    )
    parser.add_argument(
        "--editor-timeout",
        type=float,
        metavar="SECONDS",
        help="the longest a VM's request to the editor may wait for its answer, whatever "
        "its method (default: each method's own limit, see protocol/vm/modes.md)",
    )
    parser.add_argument(
        "--allow-outside-cwd",
        action="store_true",
        default=None,
        help="let VMs read, write and run commands outside the session's cwd",
    )
    parser.add_argument(
        "--vm-env-allow",
        action="append",
        metavar="NAME[,NAME...]",
        help=(
            "give the VM only these variables of the bridge's environment (names or "
            "patterns such as 'LC_*'; repeatable); default: all of them"
        ),
    )
    parser.add_argument(
        "--max-vm-line-mib",
        type=float,
        help="longest line accepted from a VM, in MiB "
        f"(default: {_default(Settings, 'max_vm_line_bytes') / MIB:g}); longer ones are "
        "counted and skipped",
    )
    parser.add_argument(
        "--max-segment-mib",
        type=int,
        help="rotate a log segment past this size "
        f"(default: {_default(RotationPolicy, 'max_segment_bytes') // MIB})",
    )


#: The built-in example VM's manifest (a data file: reading it imports nothing).
EXAMPLE_VM_MANIFEST: Final = Path(__file__).resolve().parent.parent / "example_vm" / "manifest.json"


def manifest_path(args: argparse.Namespace) -> Path | None:
    """The VM's manifest: ``--vm-manifest``, the example VM's for the built-in VM, or none."""
    if args.vm_manifest is not None:
        return Path(args.vm_manifest)
    if not args.vm_exec and not args.vm:
        return EXAMPLE_VM_MANIFEST
    return None


def vm_command(args: argparse.Namespace) -> tuple[VmMode, tuple[str, ...]]:
    """The VM's mode and argv: ``--vm-exec``, ``--vm``, or the built-in example VM."""
    if args.vm_exec:
        return "exec", tuple(shlex.split(args.vm_exec))
    if args.vm:
        return "session", tuple(shlex.split(args.vm))
    return "session", (sys.executable, "-m", "acp_bridge", "example-vm")


def settings_from(args: argparse.Namespace, log_dir: Path) -> Settings:
    """The :class:`Settings` the command line asks for; what it does not say is the default.

    ``log_dir`` is the platform's default log directory, used unless ``--log-dir`` is given.
    """
    mode, argv = vm_command(args)
    given: dict[str, Any] = {
        "harn_extensions": args.harn_extensions,
        "editor_timeout_s": args.editor_timeout,
        "allow_outside_cwd": args.allow_outside_cwd,
        "vm_env_allow": _env_allow(args.vm_env_allow),
    }
    if args.max_segment_mib is not None:
        given["rotation"] = RotationPolicy(max_segment_bytes=args.max_segment_mib * MIB)
    if args.fsync is not None:
        given["fsync"] = FsyncPolicy(mode=args.fsync)
    if args.max_vm_line_mib is not None:
        given["max_vm_line_bytes"] = max(int(args.max_vm_line_mib * MIB), 1024)
    return Settings(
        vm_mode=mode,
        vm_argv=argv,
        log_dir=args.log_dir or log_dir,
        **{name: value for name, value in given.items() if value is not None},
    )


def _env_allow(values: list[str] | None) -> tuple[str, ...] | None:
    """``--vm-env-allow A,B --vm-env-allow C`` -> ``("A", "B", "C")``; absent: ``None``."""
    if values is None:
        return None
    return tuple(name.strip() for value in values for name in value.split(",") if name.strip())


def demo_bridge_args(words: Sequence[str], prompt: str | None) -> list[str]:
    """The words before ``demo`` on the command line: the bridge the demo starts gets them all.

    ``words`` is the whole command line (without the program name), which ends with
    ``demo`` and the optional prompt.
    """
    tail = ["demo"] if prompt is None else ["demo", prompt]
    if list(words[-len(tail) :]) != tail:
        raise ValueError(f"expected the command line to end with {shlex.join(tail)}")
    return list(words[: -len(tail)])
