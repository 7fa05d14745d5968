"""The ``acp-bridge`` command line.

Rule: stdout carries protocol only (ACP when serving; the ACP notifications ``replay``
prints); every diagnostic goes to stderr through :mod:`logging`, configured before anything
else runs. Heavy imports happen inside the command that needs them, so that ``example-vm``
and ``--help`` start fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from acp_bridge import __version__
from acp_bridge.cli.options import add_serving_options, demo_bridge_args

if TYPE_CHECKING:
    from collections.abc import Sequence

log = logging.getLogger("acp_bridge")

EXIT_OK = 0


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("acp-bridge: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    # pygls logs every handler it registers at INFO: quiet unless asked.
    logging.getLogger("pygls").setLevel(logging.DEBUG if verbose else logging.CRITICAL)


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
    add_serving_options(parser)
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
        help="Harn mode: what Harn's own adapter sends for a loaded session",
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``acp-bridge`` command."""
    parser = _parser()
    words = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(words)
    _configure_logging(args.verbose)
    if args.command == "example-vm":
        from acp_bridge.example_vm import main as example_vm_main

        status: int = example_vm_main([])
        return status
    if args.command == "demo":
        from acp_bridge.cli.demo import main as demo_main

        return demo_main(args.prompt, demo_bridge_args(words, args.prompt))
    if args.command == "replay":
        from acp_bridge.cli.replay import replay_command

        try:
            return replay_command(args)
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop quietly, as Unix tools do.
            log.debug("stdout closed by the reader")
            return EXIT_OK
    from acp_bridge.cli.serve import serve_command

    return serve_command(args)
