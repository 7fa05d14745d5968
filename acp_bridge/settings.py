"""Everything the bridge can be told, in one frozen value made by the command line.

Rule: nothing in this module performs I/O; defaults that depend on the platform (the log
directory) are computed by the caller and passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from acp_bridge.eventlog.rotation import FsyncPolicy, RotationPolicy

if TYPE_CHECKING:
    from pathlib import Path

    from acp_bridge.vm.manifest import Manifest

MIB: Final = 1024 * 1024

VmMode = Literal["exec", "session"]


@dataclass(frozen=True, slots=True)
class Settings:
    """The bridge's configuration.

    Attributes:
        vm_mode: ``exec`` (one process per prompt) or ``session`` (one per session).
        vm_argv: The VM command, already split into arguments.
        log_dir: Where event logs are written.
        harn_extensions: Harn mode for every client: what Harn's own adapter sends.
        rotation: When a log segment is full.
        fsync: When log writes are forced to disk.
        max_editor_line_bytes: Longest JSON-RPC message accepted from the editor.
        max_vm_line_bytes: Longest line accepted from a VM.
        cancel_grace_s: How long a cancelled turn waits for the VM before answering.
        cancelled_turn_timeout_s: How long a VM may take to finish a cancelled prompt
            before it is restarted.
        vm_start_timeout_s: How long a session-mode VM may take to answer ``initialize``.
        vm_stop_grace_s: How long a VM has to exit after its stdin is closed, and again
            after SIGTERM, before it is killed.
        editor_timeout_s: When set, the longest any request to the editor made for the
            VM may wait; each method also has a limit of its own (or none), and the
            shorter applies (:mod:`acp_bridge.editor_gateway`). ``None``: the methods'
            own limits only.
        allow_outside_cwd: Let VMs read, write and run outside the session's cwd.
        outbox_high_water_bytes: Bytes queued for the editor beyond which VM reading
            pauses (back-pressure instead of unbounded memory).
        vm_env_allow: When set, the only variables of the bridge's environment a VM gets
            (names or ``fnmatch`` patterns such as ``LC_*``), besides the ``ACP_BRIDGE_*``
            ones the bridge sets; ``None``: the VM gets the bridge's whole environment.
        manifest: What the VM declares it offers (:mod:`acp_bridge.vm.manifest`);
            ``None``: nothing beyond what every VM can take.
        tune_process: Tune the garbage collector and the heap for streaming once events
            start to flow (process-wide: see :mod:`acp_bridge.tuning`); an embedder that
            minds may turn it off.
    """

    vm_mode: VmMode
    vm_argv: tuple[str, ...]
    log_dir: Path
    harn_extensions: bool = False
    rotation: RotationPolicy = field(default_factory=RotationPolicy)
    fsync: FsyncPolicy = field(default_factory=FsyncPolicy)
    max_editor_line_bytes: int = 32 * MIB
    max_vm_line_bytes: int = 4 * MIB
    cancel_grace_s: float = 0.25
    cancelled_turn_timeout_s: float = 5.0
    vm_start_timeout_s: float = 10.0
    vm_stop_grace_s: float = 2.0
    outbox_high_water_bytes: int = 4 * MIB
    editor_timeout_s: float | None = None
    allow_outside_cwd: bool = False
    vm_env_allow: tuple[str, ...] | None = None
    tune_process: bool = True
    manifest: Manifest | None = None
