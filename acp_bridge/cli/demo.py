"""``acp-bridge demo``: a built-in ACP client talks to a real bridge, readably.

It starts ``acp-bridge`` (the server, with the example VM unless told otherwise) as a
subprocess over real pipes, exactly as an editor would, sends a prompt, renders every
update as it streams in (colour on a terminal, plain text when piped), and ends with
where the event log was written and the command that replays it.

This module writes to its own stdout on purpose: it is the terminal client, not the ACP
wire; the one writer is :meth:`Screen.write`.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import PIPE
from typing import Any, Final

import anyio
import orjson

from acp_bridge.jsonrpc.framing import LineDecoder, LineTooLong

DEFAULT_PROMPT: Final = "What is in this directory, and where should I start reading?"
AUTO_MODE: Final = "auto"  # the mode the demo's second turn runs in, when the agent has it
TOUR_COMMAND: Final = "/files"  # the demo's second prompt: a command the agent runs itself
_STATUS_MARK: Final = {"pending": "…", "in_progress": "▶", "completed": "✓", "failed": "✗"}
_PLAN_MARK: Final = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]"}


@dataclass(slots=True)
class Screen:
    """Renders ACP updates for a human; colour only on a terminal."""

    colour: bool
    _open: str | None = None  # the kind of text run being streamed ("message"/"thought")
    _tool_titles: dict[str, str] = field(default_factory=dict)
    _terminals: set[str] = field(default_factory=set)  # tool calls whose output streamed live
    _partial: str = ""  # streamed terminal output not ended by a newline yet
    command_names: list[str] = field(default_factory=list)  # the agent's, as last announced

    def write(self, text: str) -> None:
        """The demo's single writer to its terminal."""
        sys.stdout.write(text)  # wire: the demo's own terminal, not an ACP stream
        sys.stdout.flush()

    def style(self, text: str, code: str) -> str:
        """Wrap ``text`` in an ANSI style when colour is on."""
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour else text

    def end_run(self) -> None:
        """Finish a streamed text run with a newline."""
        if self._open is not None:
            self.write("\n")
            self._open = None

    def line(self, text: str) -> None:
        """Write one full line (ending any streamed run first)."""
        self.end_run()
        self.write(text + "\n")

    def stream(self, kind: str, text: str) -> None:
        """Append streamed text, starting a labelled run when the kind changes."""
        if self._open != kind:
            self.end_run()
            label = "agent >" if kind == "message" else "thinking >"
            self.write(self.style(label, "1;32" if kind == "message" else "2") + " ")
            self._open = kind
        self.write(self.style(text, "2;3") if kind == "thought" else text)

    def update(self, update: dict[str, Any]) -> None:
        """Render one ``session/update``."""
        kind = update.get("sessionUpdate")
        content = update.get("content")
        if kind in ("agent_message_chunk", "agent_thought_chunk", "user_message_chunk"):
            text = content.get("text", "") if isinstance(content, dict) else ""
            if kind == "user_message_chunk":
                self.line(self.style("you >", "1;34") + " " + text)
            else:
                self.stream("message" if kind == "agent_message_chunk" else "thought", text)
        elif kind == "tool_call":
            self._tool_titles[update["toolCallId"]] = update.get("title", "tool")
            self._tool_line(update["toolCallId"], update.get("status", "pending"), update)
        elif kind == "tool_call_update":
            self._terminal(update["toolCallId"], update.get("_meta"))
            if "status" in update:
                self._tool_line(update["toolCallId"], update["status"], update)
        elif kind == "plan":
            self.line(self.style("plan", "1;35"))
            for entry in update.get("entries", []):
                mark = _PLAN_MARK.get(entry.get("status"), "[?]")
                self.line(f"  {mark} {entry.get('content', '')}")
        else:
            self.session_update(kind, update)

    def session_update(self, kind: Any, update: dict[str, Any]) -> None:
        """Render an update about the session rather than its conversation."""
        if kind == "available_commands_update":
            self.commands(update.get("availableCommands") or [])
        elif kind == "current_mode_update":
            self.info("mode", str(update.get("currentModeId")))
        elif kind == "config_option_update":
            self.options(update.get("configOptions") or [])
        elif kind == "session_info_update" and isinstance(update.get("title"), str):
            self.info("title", update["title"])
        elif kind == "usage_update":
            self.info("usage", usage_text(update))
        elif kind == "notice":
            severity = str(update.get("severity", "info"))
            colour = {"warning": "1;33", "error": "1;31"}.get(severity, "1;36")
            about = update.get("description")
            text = f"{update.get('title', '')}" + (f" — {about}" if about else "")
            self.line(self.style(f"! {severity}:", colour) + " " + text)

    def info(self, label: str, text: str) -> None:
        """One line about the session: ``label: text``."""
        self.line(self.style(f"{label}:", "1;36") + " " + text)

    def commands(self, commands: list[Any]) -> None:
        """The agent's slash commands, as a user would type them."""
        names = []
        self.command_names = [str(c.get("name")) for c in commands if isinstance(c, dict)]
        for command in commands:
            if isinstance(command, dict):
                hint = (command.get("input") or {}).get("hint")
                names.append(f"/{command.get('name')}" + (f" <{hint}>" if hint else ""))
        self.info("commands", ", ".join(names) or "none")

    def options(self, options: list[Any]) -> None:
        """Each config option's current value, by name (``Model: Thorough``)."""
        for option in options:
            if isinstance(option, dict):
                self.info(str(option.get("name", option.get("id"))).lower(), choice_text(option))

    def _terminal(self, tool_id: str, meta: Any) -> None:
        """A terminal's output as it streams (``_meta.terminal_output``, as Zed reads it)."""
        if not isinstance(meta, dict):
            return
        output = meta.get("terminal_output")
        if isinstance(output, dict) and isinstance(output.get("data"), str):
            self._terminals.add(tool_id)
            *done, self._partial = (self._partial + output["data"]).split("\n")
            for text in done:
                self.line(self.style(f"    $ {text}", "2"))
        exited = meta.get("terminal_exit")
        if isinstance(exited, dict):
            if self._partial:
                self.line(self.style(f"    $ {self._partial}", "2"))
                self._partial = ""
            how = exited.get("signal") or f"exit status {exited.get('exit_code')}"
            self.line(self.style(f"    $ [{how}]", "2"))

    def _tool_line(self, tool_id: str, status: str, update: dict[str, Any]) -> None:
        title = update.get("title") or self._tool_titles.get(tool_id, "tool")
        colour = {"completed": "32", "failed": "31"}.get(status, "33")
        mark = self.style(_STATUS_MARK.get(status, "?"), colour)
        where = ""
        locations = update.get("locations")
        if isinstance(locations, list) and locations:
            where = self.style(f"  ({locations[0].get('path')})", "2")
        self.line(f"  {mark} {title} {self.style(status, colour)}{where}")
        for block in update.get("content") or []:
            if not isinstance(block, dict):
                continue
            inner = block.get("content")
            if tool_id in self._terminals:
                continue  # its output was shown as it came
            if isinstance(inner, dict) and isinstance(inner.get("text"), str):
                self._excerpt(inner["text"].splitlines(), "")
            elif block.get("type") == "diff" and isinstance(block.get("newText"), str):
                self._excerpt(block["newText"].splitlines(), "+ ")

    def _excerpt(self, lines: list[str], prefix: str) -> None:
        for text in lines[:4]:
            self.line(self.style(f"    │ {prefix}{text}", "2"))
        if len(lines) > 4:
            self.line(self.style(f"    │ … {len(lines) - 4} more lines", "2"))


def usage_text(update: dict[str, Any]) -> str:
    """``1,441 of 200,000 tokens (0.7%), 0.0043 USD so far``."""
    used, size = update.get("used"), update.get("size")
    if not isinstance(used, int) or not isinstance(size, int):
        return "?"
    text = f"{used:,} of {size:,} tokens" + (f" ({used / size:.1%})" if size else "")
    cost = update.get("cost")
    if isinstance(cost, dict) and isinstance(cost.get("amount"), int | float):
        text += f", {cost['amount']:.4f} {cost.get('currency', '')} so far"
    return text


def choice_text(option: dict[str, Any]) -> str:
    """A select option's current value by name, with the others (``Ask (or Auto)``)."""
    current = option.get("currentValue")
    values = [v for v in option.get("options") or [] if isinstance(v, dict)]
    names = {v.get("value"): str(v.get("name", v.get("value"))) for v in values}
    others = [name for value, name in names.items() if value != current]
    shown = names.get(current, str(current))
    return shown + (f" (or {', '.join(others)})" if others else "")


class DemoClient:
    """A minimal ACP client over the pipes of a bridge subprocess."""

    def __init__(self, process: anyio.abc.Process, screen: Screen) -> None:
        """Talk to ``process``; render through ``screen``."""
        self.process = process
        self.screen = screen
        self._next_id = 0
        self._waiting: dict[int, anyio.Event] = {}
        self._answers: dict[int, dict[str, Any]] = {}
        self.replies: list[bytes] = []
        self.reply_ready = anyio.Event()

    async def read(self) -> None:
        """Route every line the bridge writes: answers to callers, updates to the screen."""
        stream = self.process.stdout
        assert stream is not None
        decoder = LineDecoder(max_line_bytes=64 * 1024 * 1024)
        async for chunk in stream:
            for line in decoder.feed(chunk):
                if not isinstance(line, LineTooLong) and line:
                    self._route(orjson.loads(line))
        for event in self._waiting.values():
            event.set()

    def _route(self, message: dict[str, Any]) -> None:
        if "method" in message and "id" in message:
            self._answer_request(message)
        elif "method" not in message and isinstance(message.get("id"), int):
            self._answers[message["id"]] = message
            waiter = self._waiting.pop(message["id"], None)
            if waiter is not None:
                waiter.set()
        elif message.get("method") == "session/update":
            self.screen.update(message["params"]["update"])

    def _answer_request(self, message: dict[str, Any]) -> None:
        """The agent asks the client: the demo allows once (and says so); it offers no more."""
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": message["id"]}
        if message["method"] == "session/request_permission":
            params = message.get("params") or {}
            title = (params.get("toolCall") or {}).get("title") or "a tool call"
            option = next(
                (o for o in params.get("options", []) if o.get("kind") == "allow_once"), None
            )
            if option is None:
                reply["result"] = {"outcome": {"outcome": "cancelled"}}
            else:
                reply["result"] = {
                    "outcome": {"outcome": "selected", "optionId": option["optionId"]}
                }
            verdict = "allowed once by the demo" if option else "no allow option: cancelled"
            self.screen.line(self.screen.style(f"  ? permission for {title}: {verdict}", "1;33"))
        else:
            reply["error"] = {"code": -32601, "message": f"Method not found: {message['method']}"}
        self.replies.append(orjson.dumps(reply) + b"\n")
        self.reply_ready.set()

    async def send_replies(self) -> None:
        """Write the answers to the agent's requests, in order, as they are made."""
        stdin = self.process.stdin
        assert stdin is not None
        while True:
            await self.reply_ready.wait()
            self.reply_ready = anyio.Event()
            while self.replies:
                await stdin.send(self.replies.pop(0))

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send a request and wait for its answer.

        Raises:
            RuntimeError: The bridge answered with an error or went away.
        """
        msg_id = self._next_id
        self._next_id += 1
        done = self._waiting[msg_id] = anyio.Event()
        message = {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}
        stdin = self.process.stdin
        assert stdin is not None
        await stdin.send(orjson.dumps(message) + b"\n")
        await done.wait()
        answer = self._answers.pop(msg_id, None)
        if answer is None:
            raise RuntimeError(f"the bridge exited before answering {method}")
        if "error" in answer:
            raise RuntimeError(f"{method} failed: {answer['error'].get('message')}")
        result: dict[str, Any] = answer.get("result") or {}
        return result


async def run_demo(prompt: str | None, bridge_args: list[str], cwd: Path) -> int:
    """Run one conversation through a bridge subprocess; return an exit status."""
    screen = Screen(colour=sys.stdout.isatty() and "NO_COLOR" not in os.environ)
    argv = [sys.executable, "-m", "acp_bridge", *bridge_args]
    screen.line(screen.style("$ " + shlex.join(["acp-bridge", *bridge_args]), "2"))
    async with await anyio.open_process(argv, stdin=PIPE, stdout=PIPE, stderr=None) as process:
        client = DemoClient(process, screen)
        async with anyio.create_task_group() as group:
            group.start_soon(client.read)
            group.start_soon(client.send_replies)
            init = await client.call(
                "initialize",
                {
                    "protocolVersion": 1,
                    "clientCapabilities": {
                        "fs": {"readTextFile": False, "writeTextFile": False},
                        "session": {"notices": {}},  # ACP's notices, shown as "! ..."
                        # terminal output on tool calls as it streams, as Zed reads it
                        "_meta": {"terminal_output": True},
                    },
                    "clientInfo": {"name": "acp-bridge-demo", "version": "1"},
                },
            )
            agent = init.get("agentInfo", {})
            screen.line(
                screen.style(
                    f"connected to {agent.get('name')} {agent.get('version')}"
                    f" (ACP v{init.get('protocolVersion')})",
                    "2",
                )
            )
            session = await client.call("session/new", {"cwd": str(cwd), "mcpServers": []})
            session_id = session["sessionId"]
            options = session.get("configOptions") or []
            screen.options(options)
            await _turn(client, session_id, prompt or DEFAULT_PROMPT)
            mode = None if prompt else _auto_mode(options, screen.command_names)
            if mode is not None:  # the tour's second turn: a command run without asking
                screen.line(screen.style(f"(the demo sets {mode} to {AUTO_MODE})", "2"))
                changed = await client.call(
                    "session/set_config_option",
                    {"sessionId": session_id, "configId": mode, "value": AUTO_MODE},
                )
                screen.options(changed.get("configOptions") or [])
                await _turn(client, session_id, TOUR_COMMAND)
            status = await client.call("_acp_bridge/status", {})
            log_path = next(
                (s["logPath"] for s in status.get("sessions", []) if s["sessionId"] == session_id),
                "",
            )
            assert process.stdin is not None
            await process.stdin.aclose()
            await process.wait()
            group.cancel_scope.cancel()
    screen.line("")
    screen.line(f"Event log: {log_path}")
    screen.line("Replay it: " + shlex.join([_command_name(), "replay", log_path]))
    return 0


async def _turn(client: DemoClient, session_id: str, text: str) -> None:
    """Send one prompt and show how its turn ended (its updates show as they come)."""
    screen = client.screen
    screen.line(screen.style("you >", "1;34") + " " + text)
    answer = await client.call(
        "session/prompt", {"sessionId": session_id, "prompt": [{"type": "text", "text": text}]}
    )
    screen.line(screen.style(f"[turn ended: {answer.get('stopReason')}]", "2"))


def _auto_mode(options: list[Any], commands: list[str]) -> str | None:
    """The id of the mode option to set to ``auto`` for the tour's second turn, if any.

    Without a prompt on its command line the demo asks :data:`DEFAULT_PROMPT`; then, when
    the agent offers a mode ``auto`` and a ``/files`` command (the example VM does), it
    chooses that mode and sends ``/files``: the command runs without asking, and its
    output streams in.
    """
    if TOUR_COMMAND.removeprefix("/") not in commands:
        return None
    for option in options:
        values = {v.get("value") for v in option.get("options") or [] if isinstance(v, dict)}
        if isinstance(option, dict) and option.get("category") == "mode" and AUTO_MODE in values:
            return str(option["id"])
    return None


def _command_name() -> str:
    """How the user started us (``.venv/bin/acp-bridge``), for commands we suggest."""
    invoked = Path(sys.argv[0])
    if invoked.name != "acp-bridge":
        return "acp-bridge"
    try:
        return str(invoked.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(invoked)


def main(prompt: str | None, bridge_args: list[str]) -> int:
    """Entry point of ``acp-bridge demo``."""
    try:
        return anyio.run(run_demo, prompt, bridge_args, Path.cwd())
    except RuntimeError as exc:
        sys.stderr.write(f"acp-bridge demo: {exc}\n")
        return 1
