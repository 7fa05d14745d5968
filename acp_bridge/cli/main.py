"""The ``acp-bridge`` command line.

Rule: stdout carries protocol only (ACP when serving; the ACP notifications ``replay``
prints); every diagnostic goes to stderr through :mod:`logging`, configured before anything
else runs. Heavy imports happen inside the command that needs them, so that ``example-vm``
and ``--help`` start fast.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from acp_bridge import __version__
from acp_bridge.errors import BridgeError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from acp_bridge.acp.updates import Notification
    from acp_bridge.core.replay import Replayer
    from acp_bridge.eventlog.reader import CorruptLine
    from acp_bridge.eventlog.records import LogRecord

log = logging.getLogger("acp_bridge")

EXIT_OK = 0
EXIT_BAD_INPUT = 1
EXIT_USAGE = 2


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("acp-bridge: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)


def default_log_dir() -> Path:
    """The platform's user state directory for acp-bridge's logs."""
    from platformdirs import user_state_path

    return user_state_path("acp-bridge", appauthor=False) / "logs"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="acp-bridge",
        description=(
            "An Agent Client Protocol server for agent VMs that speak AgentEvents. Without a "
            "command it serves ACP on stdin/stdout, as editors expect."
        ),
    )
    parser.add_argument("--version", action="version", version=f"acp-bridge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs on stderr")
    vm = parser.add_mutually_exclusive_group()
    vm.add_argument(
        "--vm",
        metavar="CMD",
        help="session mode: one long-lived VM per ACP session, JSON-RPC on its stdio",
    )
    vm.add_argument(
        "--vm-exec",
        metavar="CMD",
        help="exec mode: one VM process per prompt, the prompt on its stdin",
    )
    parser.add_argument(
        "--log-dir", type=Path, help="where event logs go (default: the user state directory)"
    )
    parser.add_argument(
        "--harn-extensions",
        action="store_true",
        help="send Harn's extension updates top-level to every client (not valid ACP)",
    )
    parser.add_argument(
        "--fsync",
        choices=("never", "interval", "always"),
        default="interval",
        help="when log writes are forced to disk (default: interval)",
    )
    parser.add_argument(
        "--editor-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long a VM's request to the editor may wait for its answer (default: 300)",
    )
    parser.add_argument(
        "--allow-outside-cwd",
        action="store_true",
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
        default=4.0,
        help="longest line accepted from a VM, in MiB (default: 4); longer ones are counted "
        "and skipped",
    )
    parser.add_argument(
        "--max-segment-mib",
        type=int,
        default=100,
        help="rotate a log segment past this size (default: 100)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    replay = commands.add_parser(
        "replay",
        help="print the ACP notifications an event log makes",
        description=(
            "Read event logs (the bridge's or Harn's event_log-<session>.jsonl, every "
            "segment of it, or a raw AgentEvent stream; '-' reads stdin) and print, one per "
            "line on stdout, the ACP notifications the translator makes of them."
        ),
    )
    replay.add_argument("logs", nargs="+", metavar="LOG", help="log file, or - for stdin")
    replay.add_argument(
        "--harn-extensions",
        action="store_true",
        dest="replay_harn_extensions",
        help="send Harn's extension updates top-level, as Harn's own adapter does",
    )
    replay.add_argument("--cwd", help="absolute session directory, for relative tool paths")
    commands.add_parser(
        "example-vm",
        help="run the built-in example agent VM (session mode, on stdin/stdout)",
    )
    demo = commands.add_parser(
        "demo",
        help="talk to a bridge and its VM through a built-in client, readably",
        description=(
            "Start acp-bridge (with the options given before 'demo') as an editor would, "
            "send one prompt about the current directory, show the conversation, and say "
            "where its event log was written."
        ),
    )
    demo.add_argument("prompt", nargs="?", help="what to ask (default: about this directory)")
    return parser


def _bridge_args(args: argparse.Namespace) -> list[str]:
    """The serving options given on this command line, to start another bridge with."""
    out: list[str] = []
    if args.vm:
        out += ["--vm", args.vm]
    if args.vm_exec:
        out += ["--vm-exec", args.vm_exec]
    if args.log_dir:
        out += ["--log-dir", str(args.log_dir)]
    if args.harn_extensions:
        out.append("--harn-extensions")
    if args.fsync != "interval":
        out += ["--fsync", args.fsync]
    for value in args.vm_env_allow or []:
        out += ["--vm-env-allow", value]
    return out


def _stdin_records() -> Iterator[tuple[str, LogRecord | CorruptLine]]:
    from acp_bridge.eventlog.reader import read_stream

    return read_stream(sys.stdin.buffer, "<stdin>", check_index=False, skip_blank_lines=True)


def _write(out: BinaryIO, notifications: list[Notification]) -> None:
    import orjson

    for notification in notifications:
        out.write(orjson.dumps(notification) + b"\n")  # wire


def _replay_one(
    replayer: Replayer, out: BinaryIO, items: Iterator[tuple[str, LogRecord | CorruptLine]]
) -> bool:
    """Replay one input; True when every line of it was good."""
    from acp_bridge.eventlog.reader import CorruptLine

    clean = True
    for where, item in items:
        if isinstance(item, CorruptLine):
            log.error("%s, skipped", item)
            clean = False
            continue
        _write(out, replayer.feed(item.event, where=where))
    return clean


def replay_command(args: argparse.Namespace) -> int:
    """Run ``acp-bridge replay``; see ``acp-bridge replay --help``."""
    from acp_bridge.core.replay import Replayer
    from acp_bridge.core.translate import TranslatorOptions
    from acp_bridge.eventlog.reader import read_located_records, segments_for_file

    harn = args.replay_harn_extensions or args.harn_extensions
    replayer = Replayer(TranslatorOptions(harn_extensions=harn, cwd=args.cwd))
    out: BinaryIO = sys.stdout.buffer  # wire: the one writer of replay output
    failed = False
    for name in args.logs:
        if name == "-":
            replayer.default_session_id = "stdin"
            replayer.begin_log()
            failed |= not _replay_one(replayer, out, _stdin_records())
            out.flush()
            continue
        path = Path(name)
        if not path.is_file():
            log.error("%s: no such log file", name)
            failed = True
            continue
        replayer.default_session_id = path.stem
        replayer.begin_log()
        try:
            failed |= not _replay_one(replayer, out, read_located_records(segments_for_file(path)))
        except BridgeError as exc:
            log.error("%s", exc)  # noqa: TRY400 - one clean line; the error names the file
            failed = True
        out.flush()
    _write(out, replayer.finish())
    out.flush()
    stats = replayer.stats
    for problem in stats.problems:
        log.warning("%s", problem)
    if stats.invalid_events:
        failed = True
    return EXIT_BAD_INPUT if failed else EXIT_OK


def serve_command(args: argparse.Namespace) -> int:
    """Serve ACP on stdio (the default command)."""
    from acp_bridge import tuning

    tuning.pause_collection()  # the imports below build >100,000 long-lived objects
    import anyio

    from acp_bridge.bridge import run
    from acp_bridge.eventlog.rotation import FsyncPolicy, RotationPolicy
    from acp_bridge.settings import Settings, VmMode

    tuning.resume_collection()

    mode: VmMode
    if args.vm_exec:
        mode, command = "exec", args.vm_exec
    elif args.vm:
        mode, command = "session", args.vm
    else:
        mode, command = "session", None
    argv = (
        tuple(shlex.split(command))
        if command
        else (sys.executable, "-m", "acp_bridge", "example-vm")
    )
    if not argv:
        log.error("the VM command is empty")
        return EXIT_USAGE
    settings = Settings(
        vm_mode=mode,
        vm_argv=argv,
        log_dir=args.log_dir or default_log_dir(),
        harn_extensions=args.harn_extensions,
        rotation=RotationPolicy(max_segment_bytes=args.max_segment_mib * 1024 * 1024),
        fsync=FsyncPolicy(mode=args.fsync),
        editor_timeout_s=args.editor_timeout,
        allow_outside_cwd=args.allow_outside_cwd,
        vm_env_allow=_env_allow(args.vm_env_allow),
        max_vm_line_bytes=max(int(args.max_vm_line_mib * 1024 * 1024), 1024),
    )
    log.debug("serving with %s", settings)
    status: int = anyio.run(run, settings, backend="asyncio")
    _exit_if_stuck(status)
    return status


def _env_allow(values: list[str] | None) -> tuple[str, ...] | None:
    """``--vm-env-allow A,B --vm-env-allow C`` -> ``("A", "B", "C")``; absent: ``None``."""
    if values is None:
        return None
    return tuple(name.strip() for value in values for name in value.split(",") if name.strip())


def _exit_if_stuck(status: int) -> None:
    """Do not let a worker thread blocked on a dead pipe keep the process alive."""
    import os
    import threading

    stuck = [
        thread
        for thread in threading.enumerate()
        if thread is not threading.main_thread() and not thread.daemon and thread.is_alive()
    ]
    for thread in stuck:
        thread.join(0.5)
    if any(thread.is_alive() for thread in stuck):
        log.warning("a blocked write to the editor outlived shutdown; exiting anyway")
        logging.shutdown()
        os._exit(status)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``acp-bridge`` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    if args.command == "example-vm":
        from acp_bridge.example_vm import main as example_vm_main

        status: int = example_vm_main([])
        return status
    if args.command == "demo":
        from acp_bridge.cli.demo import main as demo_main

        return demo_main(args.prompt, _bridge_args(args))
    if args.command == "replay":
        try:
            return replay_command(args)
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop quietly, as Unix tools do.
            log.debug("stdout closed by the reader")
            return EXIT_OK
    return serve_command(args)
