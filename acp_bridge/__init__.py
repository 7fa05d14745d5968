"""acp-bridge: a stdio Agent Client Protocol server for agent VMs that speak AgentEvents.

The public API, for embedding the bridge and for writing a VM in Python, is what this
module exports plus three modules a VM author may import:

* :func:`run` serves ACP on a pair of file descriptors with a :class:`Settings`
  (:class:`FsyncPolicy` and :class:`RotationPolicy` are two of its fields' types);
* :mod:`acp_bridge.jsonrpc.messages` builds and classifies JSON-RPC envelopes
  (``request``, ``notification``, ``result_response``, ``error_response``, ``encode``,
  ``parse_line``, the error codes);
* :mod:`acp_bridge.jsonrpc.framing` splits a byte stream into lines (``LineDecoder``);
* :mod:`acp_bridge.vm.events` is the AgentEvent vocabulary as typed models.

Everything else is internal and may change between releases. The names here are loaded
when first used, so that ``import acp_bridge`` stays cheap for a VM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["FsyncPolicy", "RotationPolicy", "Settings", "__version__", "run"]

if TYPE_CHECKING:
    from acp_bridge.bridge import run
    from acp_bridge.eventlog.rotation import FsyncPolicy, RotationPolicy
    from acp_bridge.settings import Settings

_LAZY = {
    "run": "acp_bridge.bridge",
    "Settings": "acp_bridge.settings",
    "FsyncPolicy": "acp_bridge.eventlog.rotation",
    "RotationPolicy": "acp_bridge.eventlog.rotation",
}


def __getattr__(name: str) -> Any:
    """Load a public name on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'acp_bridge' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
