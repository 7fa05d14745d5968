"""``acp-bridge`` without a command: serve ACP on stdin/stdout, as editors expect.

The heavy imports (anyio, pygls, pydantic and the bridge) happen here, with the cyclic
collector paused while they build their long-lived objects (see :mod:`acp_bridge.tuning`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from typing import TYPE_CHECKING

from acp_bridge.cli.options import manifest_path, settings_from

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from acp_bridge.vm.manifest import Manifest

log = logging.getLogger("acp_bridge")

EXIT_USAGE = 2
#: A manifest is a few kilobytes; anything this large is not one.
MAX_MANIFEST_BYTES = 1024 * 1024


def default_log_dir() -> Path:
    """The platform's user state directory for acp-bridge's logs."""
    from platformdirs import user_state_path

    return user_state_path("acp-bridge", appauthor=False) / "logs"


def serve_command(args: argparse.Namespace) -> int:
    """Serve ACP on stdio until the editor goes away; return the exit status."""
    from acp_bridge import tuning

    tuning.pause_collection()  # the imports below build >100,000 long-lived objects
    import anyio

    from acp_bridge.bridge import run

    tuning.resume_collection()

    settings = settings_from(args, default_log_dir())
    if not settings.vm_argv:
        log.error("the VM command is empty")
        return EXIT_USAGE
    path = manifest_path(args)
    if path is not None:
        manifest = read_manifest(path)
        if manifest is None:
            return EXIT_USAGE
        settings = dataclasses.replace(settings, manifest=manifest)
    log.debug("serving with %s", settings)
    status: int = anyio.run(run, settings, backend="asyncio")
    _exit_if_stuck(status)
    return status


def read_manifest(path: Path) -> Manifest | None:
    """The manifest at ``path``, or ``None`` once every problem with it is on stderr."""
    from acp_bridge.vm.manifest import ManifestError, parse_manifest

    try:
        with path.open("rb") as file:
            data = file.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        # One line for the operator; a traceback would say nothing more.
        log.error("manifest %s: cannot read it: %s", path, exc.strerror or exc)  # noqa: TRY400
        return None
    if len(data) > MAX_MANIFEST_BYTES:
        log.error("manifest %s: over %d bytes", path, MAX_MANIFEST_BYTES)
        return None
    manifest = parse_manifest(data)
    if isinstance(manifest, ManifestError):
        for problem in manifest.problems:
            log.error("manifest %s: %s", path, problem)
        return None
    return manifest


def _exit_if_stuck(status: int) -> None:
    """Do not let a worker thread blocked on a dead pipe keep the process alive."""
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
