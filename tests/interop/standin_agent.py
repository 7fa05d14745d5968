"""A small stand-in ACP agent built on the official Python SDK (``agent-client-protocol``).

It exists so that the interop harness (client drivers, ``tee_agent.py``, the transcript checks)
can be shown to work independently of acp-bridge. Per prompt it behaves like the bridge's
built-in example agent: it streams a thought, a plan, a ``read`` tool call that reads a file
under the session's cwd (through ``fs/read_text_file`` when the client offers it, else from
disk), updates the plan and then streams the answer in several message chunks, about 2-4 s in
all. ``ACP_BRIDGE_EXAMPLE_PACE`` multiplies every delay (``0.3`` for tests, ``0`` never sleeps).
``session/cancel`` ends the running turn at once with ``stopReason: cancelled``.

``--misbehave`` makes it break the protocol on purpose, to show that the strict transcript
checks catch what the SDK clients silently accept: each turn's first plan has an entry with
the invalid priority ``"urgent"``, and each turn also sends an ``agent_message_chunk`` for a
session id that was never created.

With ``--state-dir DIR`` it advertises ``loadSession`` and keeps every session's history in
``DIR/<sessionId>.json``; ``session/load`` replays it as ``session/update`` notifications before
it answers. Without it, ``session/load`` is not offered.

Usage::

    python tests/interop/standin_agent.py [--state-dir DIR] [--misbehave]

Logs go to stderr; stdout carries nothing but ACP.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

from acp import (
    PROTOCOL_VERSION,
    Agent,
    Client,
    RequestError,
    plan_entry,
    run_agent,
    start_read_tool_call,
    text_block,
    tool_content,
    update_agent_message_text,
    update_agent_thought_text,
    update_plan,
    update_tool_call,
    update_user_message_text,
)
from acp.schema import (
    AgentCapabilities,
    AudioContentBlock,
    ClientCapabilities,
    EmbeddedResourceContentBlock,
    HttpMcpServer,
    ImageContentBlock,
    Implementation,
    InitializeResponse,
    LoadSessionResponse,
    McpServerStdio,
    NewSessionResponse,
    PlanEntry,
    PromptResponse,
    ResourceContentBlock,
    SseMcpServer,
    StopReason,
    TextContentBlock,
)

log = logging.getLogger("standin_agent")

PACE_ENV: Final = "ACP_BRIDGE_EXAMPLE_PACE"
AGENT_NAME: Final = "acp-bridge-interop-standin"
MAX_READ_CHARS: Final = 2000

PromptBlock = (
    TextContentBlock
    | ImageContentBlock
    | AudioContentBlock
    | ResourceContentBlock
    | EmbeddedResourceContentBlock
)
McpServer = HttpMcpServer | SseMcpServer | McpServerStdio | Any


def pace_from_env() -> float:
    raw = os.environ.get(PACE_ENV, "1")
    try:
        pace = float(raw)
    except ValueError:
        log.warning("ignoring %s=%r: not a number", PACE_ENV, raw)
        return 1.0
    return max(pace, 0.0)


@dataclass
class Session:
    """One session: where it lives, its history, and the cancel flag of the running turn."""

    session_id: str
    cwd: Path
    history: list[dict[str, str]] = field(default_factory=list)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    turn: int = 0


class TurnCancelledError(Exception):
    """The client cancelled the running turn."""


class StandinAgent:
    """The stand-in agent: see the module docstring.

    It implements only part of the SDK's ``Agent`` protocol; the SDK answers the methods it
    lacks (``session/list``, ``session/set_mode``...) with -32601 Method not found.
    """

    def __init__(self, state_dir: Path | None, pace: float, *, misbehave: bool = False) -> None:
        self._conn: Client | None = None
        self._misbehave = misbehave
        self._state_dir = state_dir
        self._pace = pace
        self._sessions: dict[str, Session] = {}
        self._client_caps = ClientCapabilities()

    # ------------------------------------------------------------------ plumbing

    def on_connect(self, conn: Client) -> None:
        self._conn = conn

    @property
    def conn(self) -> Client:
        if self._conn is None:
            raise RuntimeError("not connected")
        return self._conn

    async def _send(self, session: Session, update: Any) -> None:
        await self.conn.session_update(session_id=session.session_id, update=update)

    async def _pause(self, cancelled: asyncio.Event, seconds: float) -> None:
        """Sleep ``seconds * pace``, waking up (and raising) as soon as the turn is cancelled.

        Each turn has its own ``cancelled`` event: a prompt that arrives while a cancelled turn
        winds down gets a fresh one and does not revive (or get cancelled with) the old turn.
        """
        if cancelled.is_set():
            raise TurnCancelledError
        delay = seconds * self._pace
        if delay <= 0:
            await asyncio.sleep(0)
        else:
            try:
                await asyncio.wait_for(cancelled.wait(), timeout=delay)
            except TimeoutError:
                return
        if cancelled.is_set():
            raise TurnCancelledError

    def _state_file(self, session_id: str) -> Path | None:
        if self._state_dir is None:
            return None
        safe = "".join(ch for ch in session_id if ch.isalnum() or ch in "-_")
        return self._state_dir / f"{safe}.json"

    def _save(self, session: Session) -> None:
        path = self._state_file(session.session_id)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "sessionId": session.session_id,
            "cwd": str(session.cwd),
            "history": session.history,
        }
        path.write_text(json.dumps(data), encoding="utf-8")

    def _session(self, session_id: str) -> Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise RequestError(-32002, "Resource not found", {"sessionId": session_id})
        return session

    # ------------------------------------------------------------------ ACP methods

    async def initialize(
        self,
        protocol_version: int,
        client_capabilities: ClientCapabilities | None = None,
        client_info: Implementation | None = None,
        **kwargs: Any,
    ) -> InitializeResponse:
        log.info("initialize v%s from %s", protocol_version, client_info)
        if client_capabilities is not None:
            self._client_caps = client_capabilities
        return InitializeResponse(
            protocol_version=PROTOCOL_VERSION,
            agent_capabilities=AgentCapabilities(load_session=self._state_dir is not None),
            agent_info=Implementation(name=AGENT_NAME, title="Interop stand-in", version="0.1.0"),
            auth_methods=[],
        )

    async def new_session(
        self,
        cwd: str,
        additional_directories: list[str] | None = None,
        mcp_servers: list[McpServer] | None = None,
        **kwargs: Any,
    ) -> NewSessionResponse:
        if not Path(cwd).is_absolute():
            raise RequestError.invalid_params({"cwd": "must be an absolute path"})
        session = Session(session_id=f"standin-{uuid.uuid4()}", cwd=Path(cwd))
        self._sessions[session.session_id] = session
        self._save(session)
        log.info("new session %s in %s", session.session_id, cwd)
        return NewSessionResponse(session_id=session.session_id)

    async def load_session(
        self,
        cwd: str,
        session_id: str,
        mcp_servers: list[McpServer] | None = None,
        additional_directories: list[str] | None = None,
        **kwargs: Any,
    ) -> LoadSessionResponse | None:
        path = self._state_file(session_id)
        if path is None:
            raise RequestError.method_not_found("session/load")
        if not path.is_file():
            raise RequestError(-32002, "Resource not found", {"sessionId": session_id})
        data = json.loads(path.read_text(encoding="utf-8"))
        session = Session(session_id=session_id, cwd=Path(cwd), history=list(data["history"]))
        self._sessions[session_id] = session
        log.info("load session %s: replaying %d messages", session_id, len(session.history))
        for entry in session.history:
            if entry["role"] == "user":
                await self._send(session, update_user_message_text(entry["text"]))
            else:
                await self._send(session, update_agent_message_text(entry["text"]))
        return LoadSessionResponse()

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        session = self._sessions.get(session_id)
        log.info("cancel %s (known: %s)", session_id, session is not None)
        if session is not None:
            session.cancelled.set()

    async def prompt(
        self, session_id: str, prompt: list[PromptBlock], **kwargs: Any
    ) -> PromptResponse:
        session = self._session(session_id)
        # A new turn gets a fresh cancel flag; a cancel for the previous one no longer applies.
        cancelled = session.cancelled = asyncio.Event()
        session.turn += 1
        text = " ".join(block.text for block in prompt if isinstance(block, TextContentBlock))
        session.history.append({"role": "user", "text": text})
        answer: list[str] = []
        stop: StopReason
        try:
            await self._turn(session, cancelled, text, answer)
        except TurnCancelledError:
            log.info("turn %d of %s cancelled", session.turn, session_id)
            stop = "cancelled"
        else:
            stop = "end_turn"
        if answer:
            session.history.append({"role": "agent", "text": "".join(answer)})
        self._save(session)
        return PromptResponse(stop_reason=stop)

    async def _raw_update(self, session_id: str, update: dict[str, Any]) -> None:
        """Send an update the SDK's models would not let us build (misbehaving only)."""
        connection: Any = self.conn._conn  # type: ignore[attr-defined] # the SDK's Connection
        params = {"sessionId": session_id, "update": update}
        await connection.send_notification("session/update", params)

    async def _turn(
        self, session: Session, cancelled: asyncio.Event, text: str, answer: list[str]
    ) -> None:
        tool_id = f"read-{session.turn}"
        await self._send(session, update_agent_thought_text(f"The user said {text!r}. "))
        await self._pause(cancelled, 0.25)
        await self._send(session, update_agent_thought_text("I should look at a file first."))
        await self._pause(cancelled, 0.25)
        entries = [
            plan_entry("Read a file of the workspace", priority="high", status="in_progress"),
            plan_entry("Answer the user", priority="medium", status="pending"),
        ]
        if self._misbehave:
            plan = update_plan(entries).model_dump(mode="json", by_alias=True, exclude_none=True)
            plan["entries"][1]["priority"] = "urgent"
            await self._raw_update(session.session_id, plan)
            stray = update_agent_message_text("for nobody")
            await self._send(Session("standin-no-such-session", session.cwd), stray)
        else:
            await self._send(session, update_plan(entries))
        await self._pause(cancelled, 0.25)
        found = self._pick_file(session.cwd)
        summary = await self._read_tool(session, cancelled, tool_id, found)
        entries = [
            PlanEntry(content="Read a file of the workspace", priority="high", status="completed"),
            PlanEntry(content="Answer the user", priority="medium", status="in_progress"),
        ]
        await self._send(session, update_plan(entries))
        await self._pause(cancelled, 0.25)
        words = f"You said {text!r}. {summary} That is all I know for now.".split(" ")
        for index in range(0, len(words), 3):
            chunk = " ".join(words[index : index + 3]) + (" " if index + 3 < len(words) else "")
            await self._send(session, update_agent_message_text(chunk))
            answer.append(chunk)
            await self._pause(cancelled, 0.2)

    async def _read_tool(
        self, session: Session, cancelled: asyncio.Event, tool_id: str, path: Path | None
    ) -> str:
        title = f"Read {path.name}" if path is not None else "Read a file"
        shown = str(path) if path is not None else str(session.cwd)
        await self._send(session, start_read_tool_call(tool_id, title, shown))
        await self._pause(cancelled, 0.25)
        await self._send(session, update_tool_call(tool_id, status="in_progress"))
        try:
            if path is None:
                raise FileNotFoundError(f"no regular file under {session.cwd}")
            content = await self._read(session, path)
        except (OSError, RequestError, UnicodeDecodeError) as exc:
            log.info("read failed: %s", exc)
            failed = tool_content(text_block(f"could not read: {exc}"))
            await self._send(session, update_tool_call(tool_id, status="failed", content=[failed]))
            return "I could not read any file."
        await self._pause(cancelled, 0.25)
        excerpt = content[:MAX_READ_CHARS]
        done = tool_content(text_block(excerpt))
        raw = {"path": str(path), "chars": len(content)}
        await self._send(
            session, update_tool_call(tool_id, status="completed", content=[done], raw_output=raw)
        )
        lines = content.count("\n") + (1 if content and not content.endswith("\n") else 0)
        return f"{path.name} has {lines} lines."

    async def _read(self, session: Session, path: Path) -> str:
        fs = self._client_caps.fs
        if fs is not None and fs.read_text_file:
            response = await self.conn.read_text_file(
                session_id=session.session_id, path=str(path), line=None, limit=None
            )
            return response.content
        return await asyncio.to_thread(path.read_text, encoding="utf-8")

    @staticmethod
    def _pick_file(cwd: Path) -> Path | None:
        """``README.md`` when there is one, else the first regular file (sorted) in ``cwd``."""
        readme = cwd / "README.md"
        if readme.is_file():
            return readme
        try:
            names = sorted(os.listdir(cwd))
        except OSError:
            return None
        for name in names:
            candidate = cwd / name
            if not name.startswith(".") and candidate.is_file():
                return candidate
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--state-dir", type=Path, help="keep sessions here and offer session/load")
    parser.add_argument("--misbehave", action="store_true", help="break the protocol on purpose")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="standin %(levelname)s %(message)s"
    )
    agent = StandinAgent(args.state_dir, pace_from_env(), misbehave=args.misbehave)
    asyncio.run(run_agent(cast(Agent, agent)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
