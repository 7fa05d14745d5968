"""Requests a session-mode VM makes of the editor: which may go, and in what shape.

A VM may ask the editor for permission, for files and for terminals, with ACP's own
method names and params. Before anything is forwarded the bridge checks that the editor
advertised the capability, that paths are absolute and inside the session's roots, and it
gives permission requests the options ACP requires. "Inside" is decided on paths as the
file system resolves them (symlinks followed, through the nearest existing parent for a
file not created yet), for the path and the roots alike: the caller hands :func:`check`
the resolution, so that a link inside the cwd cannot lead outside it and a cwd that is
itself a link still holds its own files. Answers to permission requests are
returned with the chosen option's ``kind`` (so "selected" is never mistaken for
"allowed"), and ``allow_always``/``reject_always`` answers are remembered per tool for the
rest of the session.

Rule: nothing in this module performs I/O.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from acp_bridge.errors import RpcError
from acp_bridge.jsonrpc import messages as jsonrpc

if TYPE_CHECKING:
    from collections.abc import Callable

JsonObject = dict[str, Any]

PERMISSION: Final = "session/request_permission"
READ: Final = "fs/read_text_file"
WRITE: Final = "fs/write_text_file"
WAIT_FOR_EXIT: Final = "terminal/wait_for_exit"
TERMINAL_METHODS: Final = frozenset(
    {
        "terminal/create",
        "terminal/output",
        WAIT_FOR_EXIT,
        "terminal/kill",
        "terminal/release",
    }
)
EDITOR_METHODS: Final = frozenset({PERMISSION, READ, WRITE, *TERMINAL_METHODS})
#: What a VM may still ask after its turn was cancelled: letting go of its terminals.
CLEANUP_METHODS: Final = frozenset({"terminal/kill", "terminal/release"})

DEFAULT_OPTIONS: Final = (
    {"optionId": "allow_once", "name": "Allow once", "kind": "allow_once"},
    {"optionId": "allow_always", "name": "Always allow", "kind": "allow_always"},
    {"optionId": "reject_once", "name": "Reject", "kind": "reject_once"},
    {"optionId": "reject_always", "name": "Always reject", "kind": "reject_always"},
)
OPTION_KINDS: Final = frozenset(option["kind"] for option in DEFAULT_OPTIONS)


def _capability(caps: JsonObject, method: str) -> bool:
    if method == PERMISSION:
        return True
    fs_caps = caps.get("fs")
    fs: JsonObject = fs_caps if isinstance(fs_caps, dict) else {}
    if method == READ:
        return fs.get("readTextFile") is True
    if method == WRITE:
        return fs.get("writeTextFile") is True
    return caps.get("terminal") is True


def _inside(path: str, roots: list[str]) -> bool:
    normal = posixpath.normpath(path)
    return any(
        normal == root or normal.startswith(root.rstrip("/") + "/")
        for root in (posixpath.normpath(r) for r in roots)
    )


def requested_path(method: str, params: JsonObject) -> Any:
    """The path a request would have the editor touch (``None``: none), as the VM gave it."""
    return params.get("path") if method in (READ, WRITE) else params.get("cwd")


def check(
    method: str,
    params: JsonObject,
    caps: JsonObject,
    roots: list[str],
    *,
    allow_outside: bool,
    resolve: Callable[[str], str] = posixpath.normpath,
) -> None:
    """Refuse a request the editor cannot or must not get.

    Args:
        method: The VM's method.
        params: Its params.
        caps: The editor's client capabilities.
        roots: The session's directories (cwd first), as the editor named them.
        allow_outside: Skip the roots check (``--allow-outside-cwd``).
        resolve: What an absolute path (the requested one, and each root) is once the
            file system resolves it; the caller does the I/O. Without it, paths are
            compared as written (normalised).

    Raises:
        RpcError: -32601 when the editor did not advertise the capability, -32602 for a
            relative path or one that resolves outside every resolved root.
    """
    if method not in EDITOR_METHODS:
        raise RpcError(jsonrpc.METHOD_NOT_FOUND, f"Method not found: {method}")
    if not _capability(caps, method):
        raise RpcError(
            jsonrpc.METHOD_NOT_FOUND,
            f"the editor does not offer {method} (not in its clientCapabilities)",
        )
    path = requested_path(method, params)
    if path is None:
        return
    if not isinstance(path, str) or not posixpath.isabs(path):
        raise RpcError(jsonrpc.INVALID_PARAMS, f"Invalid params: {method} needs absolute paths")
    if allow_outside:
        return
    target = resolve(path)
    if not _inside(target, [resolve(root) for root in roots]):
        leads = "" if target == posixpath.normpath(path) else f" (it leads to {target})"
        raise RpcError(
            jsonrpc.INVALID_PARAMS,
            f"Invalid params: {path} is outside the session's directories{leads}",
        )


def permission_request(
    params: JsonObject,
    session_id: str,
    card: Callable[[str], tuple[str, str] | None] = lambda vm_id: None,
) -> JsonObject:
    """A valid ACP permission request from a VM's (possibly Harn-style) one.

    Args:
        params: The VM's params.
        session_id: The ACP session.
        card: The wire id and title of the tool call the VM names by an id, if the turn
            has shown one: the request names the call as the editor knows it, by its id
            and its one title (an editor applies the request's ``toolCall`` to the card,
            and a replay has no permission requests to apply).
    """
    tool_call = params.get("toolCall")
    if not isinstance(tool_call, dict):
        approval = params.get("approvalRequest") or params.get("mutation") or {}
        tool_call = {
            "toolCallId": str(approval.get("toolCallId") or approval.get("id") or "permission"),
            "title": str(approval.get("title") or approval.get("summary") or "Permission"),
        }
    else:
        tool_call = dict(tool_call)
        tool_call.setdefault("toolCallId", "permission")
    shown = card(tool_call["toolCallId"]) if isinstance(tool_call["toolCallId"], str) else None
    if shown is not None:
        tool_call["toolCallId"], tool_call["title"] = shown
    options = params.get("options")
    valid = (
        isinstance(options, list)
        and options
        and all(
            isinstance(o, dict)
            and isinstance(o.get("optionId"), str)
            and isinstance(o.get("name"), str)
            and o.get("kind") in OPTION_KINDS
            for o in options
        )
    )
    return {
        "sessionId": session_id,
        "toolCall": tool_call,
        "options": list(options) if valid else [dict(o) for o in DEFAULT_OPTIONS],  # type: ignore[arg-type]
    }


def tool_key(request: JsonObject) -> str:
    """What a remembered always-answer applies to: the tool, by name or title."""
    tool_call = request.get("toolCall") or {}
    raw = tool_call.get("rawInput")
    name = tool_call.get("name") or tool_call.get("title") or tool_call.get("kind")
    if isinstance(raw, dict) and not name:
        name = raw.get("tool")
    return str(name or "tool")


@dataclass(slots=True)
class PermissionMemory:
    """``allow_always``/``reject_always`` answers of one session, per tool."""

    decisions: dict[str, str] = field(default_factory=dict)

    def recall(self, request: JsonObject) -> JsonObject | None:
        """The answer to give without asking, if an always-answer covers this tool."""
        kind = self.decisions.get(tool_key(request))
        if kind is None:
            return None
        option = next((o for o in request["options"] if o.get("kind") == kind), None)
        if option is None:
            return None
        return {
            "outcome": {"outcome": "selected", "optionId": option["optionId"]},
            "kind": kind,
            "_meta": {"acp_bridge": {"remembered": True}},
        }

    def answered(self, request: JsonObject, result: Any) -> JsonObject:
        """Attach the chosen option's kind to the editor's answer; remember always-kinds."""
        answer: JsonObject = dict(result) if isinstance(result, dict) else {}
        outcome = answer.get("outcome")
        kind = None
        if isinstance(outcome, dict) and outcome.get("outcome") == "selected":
            kind = next(
                (
                    o.get("kind")
                    for o in request["options"]
                    if o.get("optionId") == outcome.get("optionId")
                ),
                None,
            )
        answer["kind"] = kind
        if kind in ("allow_always", "reject_always"):
            self.decisions[tool_key(request)] = kind
        return answer
