"""Interop driver: the official ACP Python SDK (``agent-client-protocol`` 0.12.1) as a client.

Usage::

    .venv/bin/python tests/interop/py_client.py --cwd DIR [--timeout 30] -- CMD [ARGS...]

Scenario (the same as ``ts_client.mjs``): initialize (v1; fs read/write, no terminal) ->
session/new (cwd, no MCP servers) -> prompt "hello" to completion -> prompt "tell me more",
``session/cancel`` as soon as the first ``session/update`` of that turn arrives -> prompt
"again" to completion. Then the SDK closes the agent's stdin and waits for it to exit.

Prints ONE JSON object on stdout at the end (see README.md); logs go to stderr. Exit code 0
when the scenario ran without client-side errors, 1 otherwise, 2 on bad usage.

``--powers PROMPT``: the editor's powers instead: initialize offering fs read/write and
terminals, session/new, then PROMPT to completion, answering permission requests by
``--permission allow`` (allow_once) or ``reject`` (reject_once), fs requests on the real file
system and terminal requests by running the command here. The summary then has
``permissions`` (each request's tool kind and option kinds), ``terminals`` (the commands) and
``tools`` (each tool call's last status and content types).

What the agent offers (both scenarios), as ``offers`` in the summary, the same as
``ts_client.mjs`` records it: the config options and modes of the session/new answer, the
slash commands of every ``available_commands_update``, the titles of
``session_info_update``, the last ``usage_update``, and, when the answer has options, a
``session/set_config_option`` round trip after the last turn (the first select option set
to its last value) with the complete list it answers with.

Two things ``acp.spawn_agent_process`` does by default that this driver overrides: it starts
the agent with a *trimmed* environment (HOME, LOGNAME, PATH, SHELL, TERM, USER only), so we
pass ``os.environ`` through; and it pipes the agent's stderr without ever reading it (an agent
that logs more than a pipe buffer would block), so we let the agent inherit our stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

from acp import PROTOCOL_VERSION, Client, RequestError, spawn_agent_process, text_block
from acp.connection import StreamDirection, StreamEvent
from acp.schema import (
    AllowedOutcome,
    ClientCapabilities,
    CreateTerminalResponse,
    DeniedOutcome,
    EnvVariable,
    FileSystemCapabilities,
    Implementation,
    KillTerminalResponse,
    PermissionOption,
    ReadTextFileResponse,
    ReleaseTerminalResponse,
    RequestPermissionResponse,
    TerminalExitStatus,
    TerminalOutputResponse,
    ToolCallUpdate,
    WaitForTerminalExitResponse,
    WriteTextFileResponse,
)

log = logging.getLogger("py_client")

PROMPTS: tuple[tuple[str, bool], ...] = (("hello", False), ("tell me more", True), ("again", False))
CLIENT_NAME = "acp-bridge-interop-py"
SDK_VERSION = version("agent-client-protocol")


def now_ms() -> float:
    return time.monotonic() * 1000.0


class ErrorLog(logging.Handler):
    """Collects every WARNING-or-worse log record: that is how the SDK reports dropped input."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(level=logging.WARNING)
        self.errors = errors

    def emit(self, record: logging.LogRecord) -> None:
        text = f"log {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        self.errors.append(text)


@dataclass
class Turn:
    """What the client saw of one prompt turn."""

    prompt: str
    cancel: bool
    started: float = field(default_factory=now_ms)
    updates: dict[str, int] = field(default_factory=dict)
    stop_reason: str | None = None
    cancel_at: float | None = None
    answered_at: float | None = None
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        end = self.answered_at if self.answered_at is not None else now_ms()
        out: dict[str, Any] = {
            "prompt": self.prompt,
            "stopReason": self.stop_reason,
            "updates": self.updates,
            "ms": round(end - self.started),
        }
        if self.cancel:
            out["cancelAfterMs"] = (
                None if self.cancel_at is None else round(self.cancel_at - self.started)
            )
            out["answeredAfterCancelMs"] = (
                None if self.cancel_at is None else round(end - self.cancel_at, 1)
            )
        if self.error is not None:
            out["error"] = self.error
        return out


class InteropClient:
    """The client side: counts updates per turn and cancels the turn that asks for it.

    It implements part of the SDK's ``Client`` protocol; the SDK answers the rest
    (terminal methods...) with -32601 Method not found.
    """

    def __init__(self, errors: list[str], permission: str = "allow") -> None:
        self.errors = errors
        self.permission = permission
        self.permissions: list[dict[str, Any]] = []
        self.terminals: dict[str, Terminal] = {}
        self.commands: list[list[str]] = []
        self.tools: dict[str, dict[str, Any]] = {}
        self.conn: Any = None
        self.session_id: str | None = None
        self.update_session_ids: list[str] = []  # of every session/update, to find strays
        self.turn: Turn | None = None
        self.agent_requests: dict[str, int] = {}
        self.sent: dict[Any, str] = {}  # our request ids -> method
        self.raw_results: dict[str, Any] = {}  # method -> the raw result of its first answer
        self.offers: dict[str, Any] = {
            "configOptions": None,
            "modes": None,
            "commands": [],
            "titles": [],
            "usage": None,
            "setConfigOption": None,
        }

    def _count(self, method: str) -> None:
        self.agent_requests[method] = self.agent_requests.get(method, 0) + 1

    def observe(self, event: StreamEvent) -> None:
        """Stream observer: when the answer to a prompt arrives, and the raw results."""
        message = event.message
        if event.direction is StreamDirection.OUTGOING:
            if "method" in message and "id" in message:
                self.sent[message["id"]] = str(message["method"])
            return
        method = None if "method" in message else self.sent.pop(message.get("id"), None)
        if method is None:
            return
        self.raw_results.setdefault(method, message.get("result", message.get("error")))
        turn = self.turn
        if method == "session/prompt" and turn is not None and turn.answered_at is None:
            turn.answered_at = now_ms()

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        turn = self.turn
        kind = str(getattr(update, "session_update", type(update).__name__))
        self.update_session_ids.append(session_id)
        self.track_offers(kind, update)
        if kind in ("tool_call", "tool_call_update"):
            tool = self.tools.setdefault(update.tool_call_id, {"content": []})
            for name in ("title", "kind", "status"):
                if getattr(update, name, None) is not None:
                    tool[name] = getattr(update, name)
            for block in update.content or []:
                if block.type not in tool["content"]:
                    tool["content"].append(block.type)
        if turn is None or session_id != self.session_id:
            log.info("update %s outside a turn", kind)
            return
        turn.updates[kind] = turn.updates.get(kind, 0) + 1
        if turn.cancel and turn.cancel_at is None:
            turn.cancel_at = now_ms()
            await self.conn.cancel(session_id=session_id)

    def track_offers(self, kind: str, update: Any) -> None:
        """The session-level updates that show what the agent offers."""
        raw = update.model_dump(mode="json", by_alias=True, exclude_none=True)
        if kind == "available_commands_update":
            self.offers["commands"].append([c["name"] for c in raw["availableCommands"]])
        elif kind == "session_info_update" and raw.get("title") is not None:
            self.offers["titles"].append(raw["title"])
        elif kind == "usage_update":
            self.offers["usage"] = {k: raw.get(k) for k in ("used", "size", "cost")}

    async def request_permission(
        self,
        session_id: str,
        tool_call: ToolCallUpdate,
        options: list[PermissionOption],
        **kwargs: Any,
    ) -> RequestPermissionResponse:
        self._count("session/request_permission")
        self.permissions.append({"kind": tool_call.kind, "optionKinds": [o.kind for o in options]})
        wanted = ("reject_once",) if self.permission == "reject" else ("allow_once", "allow_always")
        chosen = [o for o in options if o.kind in wanted][:1]
        if not chosen:
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        return RequestPermissionResponse(
            outcome=AllowedOutcome(outcome="selected", option_id=chosen[0].option_id)
        )

    async def read_text_file(
        self,
        session_id: str,
        path: str,
        line: int | None = None,
        limit: int | None = None,
        **kwargs: Any,
    ) -> ReadTextFileResponse:
        self._count("fs/read_text_file")
        try:
            text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
        except OSError as exc:
            raise RequestError(
                -32002, "Resource not found", {"path": path, "error": str(exc)}
            ) from exc
        if line is not None or limit is not None:
            lines = text.splitlines(keepends=True)
            first = max((line or 1) - 1, 0)
            text = "".join(lines[first : None if limit is None else first + limit])
        return ReadTextFileResponse(content=text)

    async def write_text_file(
        self, session_id: str, path: str, content: str, **kwargs: Any
    ) -> WriteTextFileResponse | None:
        self._count("fs/write_text_file")
        await asyncio.to_thread(Path(path).write_text, content, encoding="utf-8")
        return WriteTextFileResponse()

    async def create_terminal(
        self,
        session_id: str,
        command: str,
        args: list[str] | None = None,
        env: list[EnvVariable] | None = None,
        cwd: str | None = None,
        output_byte_limit: int | None = None,
        **kwargs: Any,
    ) -> CreateTerminalResponse:
        self._count("terminal/create")
        self.commands.append([command, *(args or [])])
        extra = {v.name: v.value for v in env or []}
        process = await asyncio.create_subprocess_exec(
            command,
            *(args or []),
            cwd=cwd,
            env={**os.environ, **extra},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        terminal_id = f"py-term-{len(self.commands)}"
        self.terminals[terminal_id] = Terminal(process, output_byte_limit)
        return CreateTerminalResponse(terminal_id=terminal_id)

    def _terminal(self, terminal_id: str) -> Terminal:
        if terminal_id not in self.terminals:
            raise RequestError.invalid_params({"terminalId": terminal_id})
        return self.terminals[terminal_id]

    async def terminal_output(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> TerminalOutputResponse:
        self._count("terminal/output")
        term = self._terminal(terminal_id)
        return TerminalOutputResponse(
            output=term.output.decode("utf-8", "replace"),
            truncated=term.truncated,
            exit_status=term.status(),
        )

    async def wait_for_terminal_exit(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> WaitForTerminalExitResponse:
        self._count("terminal/wait_for_exit")
        term = self._terminal(terminal_id)
        await term.drain()
        code = term.process.returncode
        return WaitForTerminalExitResponse(
            exit_code=code if code is not None and code >= 0 else None
        )

    async def kill_terminal(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> KillTerminalResponse | None:
        self._count("terminal/kill")
        self._terminal(terminal_id).kill()
        return KillTerminalResponse()

    async def release_terminal(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> ReleaseTerminalResponse | None:
        self._count("terminal/release")
        self._terminal(terminal_id).kill()
        del self.terminals[terminal_id]
        return ReleaseTerminalResponse()

    def on_connect(self, conn: Any) -> None:
        self.conn = conn


@dataclass
class Terminal:
    """A command the client runs for the agent, its output kept within the byte limit."""

    process: asyncio.subprocess.Process
    limit: int | None
    output: bytes = b""
    truncated: bool = False

    async def drain(self) -> None:
        assert self.process.stdout is not None
        while chunk := await self.process.stdout.read(65536):
            self.output += chunk
            if self.limit is not None and len(self.output) > self.limit:
                self.output, self.truncated = self.output[-self.limit :], True
        await self.process.wait()

    def status(self) -> TerminalExitStatus | None:
        code = self.process.returncode
        if code is None:
            return None
        return TerminalExitStatus(exit_code=code if code >= 0 else None)

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


def option_summary(option: dict[str, Any]) -> dict[str, Any]:
    """A config option as the summary keeps it: id, category, current value, its values."""
    choices = option.get("options") or []
    flat = [o for c in choices for o in c.get("options", [c])]
    return {
        "id": option["id"],
        "category": option.get("category"),
        "currentValue": option.get("currentValue"),
        "values": [o["value"] for o in flat],
    }


async def set_an_option(conn: Any, session_id: str, client: InteropClient) -> None:
    """The session/set_config_option round trip (when the session/new answer has options)."""
    answered = client.raw_results.get("session/new") or {}
    options = answered.get("configOptions")
    client.offers["configOptions"] = [option_summary(o) for o in options or []] or None
    modes = answered.get("modes")
    client.offers["modes"] = [m["id"] for m in modes["availableModes"]] if modes else None
    select = next((o for o in options or [] if o.get("type") == "select"), None)
    if select is None:
        return
    value = option_summary(select)["values"][-1]
    await conn.set_config_option(config_id=select["id"], session_id=session_id, value=value)
    result = client.raw_results.get("session/set_config_option") or {}
    client.offers["setConfigOption"] = {
        "configId": select["id"],
        "value": value,
        "configOptions": [option_summary(o) for o in result.get("configOptions", [])],
    }


async def reload(
    conn: Any, cwd: Path, session_id: str, summary: dict[str, Any], client: InteropClient
) -> None:
    """--load: reopen a recorded thread, count what it replays, then prompt once more."""
    client.session_id = summary["sessionId"] = session_id
    replay = client.turn = Turn(prompt="(load)", cancel=False)
    await conn.load_session(session_id=session_id, cwd=str(cwd), mcp_servers=[])
    summary["load"] = {"updates": replay.updates}
    after = client.turn = Turn(prompt="after load", cancel=False)
    response = await conn.prompt(session_id=session_id, prompt=[text_block("after load")])
    client.turn = None
    summary["afterLoad"] = {"stopReason": response.stop_reason, "updates": after.updates}


async def scenario(
    command: list[str],
    cwd: Path,
    summary: dict[str, Any],
    client: InteropClient,
    load: str | None = None,
    powers: str | None = None,
) -> int | None:
    """Run the three turns; return the agent's exit code."""
    async with spawn_agent_process(
        cast(Client, client),
        command[0],
        *command[1:],
        env=dict(os.environ),
        cwd=cwd,
        transport_kwargs={"stderr": None},
        observers=[client.observe],
    ) as (conn, process):
        init = await conn.initialize(
            protocol_version=PROTOCOL_VERSION,
            client_capabilities=ClientCapabilities(
                fs=FileSystemCapabilities(read_text_file=True, write_text_file=True),
                terminal=powers is not None,
            ),
            client_info=Implementation(name=CLIENT_NAME, version=SDK_VERSION),
        )
        summary["initialize"] = client.raw_results.get("initialize", init.model_dump(mode="json"))
        if load is not None:
            await reload(conn, cwd, load, summary, client)
            return None
        session = await conn.new_session(cwd=str(cwd), mcp_servers=[])
        summary["sessionId"] = client.session_id = session.session_id
        for text, cancel in PROMPTS if powers is None else ((powers, False),):
            turn = Turn(prompt=text, cancel=cancel)
            client.turn = turn
            try:
                response = await conn.prompt(
                    session_id=session.session_id, prompt=[text_block(text)]
                )
                turn.stop_reason = response.stop_reason
            except Exception as exc:  # noqa: BLE001 - every failure is a finding for the summary
                turn.error = f"{type(exc).__name__}: {exc}"
                summary["errors"].append(f"prompt {text!r}: {turn.error}")
            client.turn = None
            summary["turns"].append(turn.summary())
        await set_an_option(conn, session.session_id, client)
    return process.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--cwd", type=Path, default=Path.cwd(), help="the session's cwd")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds for everything")
    parser.add_argument("--load", metavar="SESSION_ID", help="reopen a recorded session instead")
    parser.add_argument("--powers", metavar="PROMPT", help="the editor-powers scenario")
    parser.add_argument("--permission", choices=("allow", "reject"), default="allow")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no agent command after --")
    summary: dict[str, Any] = {
        "client": {
            "sdk": "agent-client-protocol",
            "version": SDK_VERSION,
            "api": "spawn_agent_process",
        },
        "command": command,
        "cwd": str(args.cwd),
        "initialize": None,
        "sessionId": None,
        "turns": [],
        "agentRequests": {},
        "errors": [],
        "agentExit": None,
        "strayUpdates": 0,
    }
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="py_client %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger().addHandler(ErrorLog(summary["errors"]))
    client = InteropClient(summary["errors"], args.permission)
    started = now_ms()
    try:
        code = asyncio.run(
            asyncio.wait_for(
                scenario(command, args.cwd.resolve(), summary, client, args.load, args.powers),
                args.timeout,
            )
        )
        summary["agentExit"] = {"code": code, "atMs": round(now_ms() - started, 1)}
    except TimeoutError:
        summary["errors"].append(f"timeout: the scenario did not finish within {args.timeout} s")
    except Exception as exc:  # noqa: BLE001 - reported in the summary, not as a traceback
        summary["errors"].append(f"connection: {type(exc).__name__}: {exc}")
    summary["agentRequests"] = client.agent_requests
    summary["permissions"] = client.permissions
    summary["terminals"] = client.commands
    summary["tools"] = client.tools
    summary["offers"] = client.offers
    ours = summary["sessionId"]
    summary["strayUpdates"] = sum(sid != ours for sid in client.update_session_ids)
    sys.stdout.write(json.dumps(summary) + "\n")
    sys.stdout.flush()
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
