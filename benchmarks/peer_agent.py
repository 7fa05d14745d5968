"""The peer: a minimal ACP agent on the official Python SDK that forwards a VM's events.

Written for the benchmark, kept minimal and fair: per prompt it starts the VM command
(``peer_agent.py -- CMD...``), reads its AgentEvent lines and forwards each one as a
``session/update`` through the SDK (message and thought chunks as text, tool calls as
tool calls), then answers ``end_turn``. It keeps no log.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any, cast

from acp import (
    PROTOCOL_VERSION,
    Agent,
    Client,
    run_agent,
    start_tool_call,
    update_agent_message_text,
    update_agent_thought_text,
    update_tool_call,
)
from acp.schema import (
    AgentCapabilities,
    Implementation,
    InitializeResponse,
    NewSessionResponse,
    PromptResponse,
)

STREAM_LIMIT = 64 * 1024 * 1024


class PeerAgent:
    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.conn: Client | None = None

    def on_connect(self, conn: Client) -> None:
        self.conn = conn

    async def initialize(self, protocol_version: int, **kwargs: Any) -> InitializeResponse:
        return InitializeResponse(
            protocol_version=PROTOCOL_VERSION,
            agent_capabilities=AgentCapabilities(),
            agent_info=Implementation(name="peer", version="0"),
            auth_methods=[],
        )

    async def new_session(self, cwd: str, **kwargs: Any) -> NewSessionResponse:
        return NewSessionResponse(session_id=str(uuid.uuid4()))

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        return None

    async def prompt(self, session_id: str, prompt: Any, **kwargs: Any) -> PromptResponse:
        assert self.conn is not None
        vm = await asyncio.create_subprocess_exec(
            *self.command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            limit=STREAM_LIMIT,
        )
        assert vm.stdout is not None
        async for line in vm.stdout:
            update = to_update(json.loads(line))
            if update is not None:
                await self.conn.session_update(session_id=session_id, update=update)
        await vm.wait()
        return PromptResponse(stop_reason="end_turn")


def to_update(event: dict[str, Any]) -> Any:
    kind = event.get("type")
    if kind == "agent_message_chunk":
        return update_agent_message_text(event["content"])
    if kind == "agent_thought_chunk":
        return update_agent_thought_text(event["content"])
    if kind == "tool_call":
        return start_tool_call(event["tool_call_id"], event.get("tool_name") or "tool")
    if kind == "tool_call_update":
        return update_tool_call(event["tool_call_id"], status=event.get("status"))
    return None


def main() -> int:
    argv = sys.argv[1:]
    command = argv[argv.index("--") + 1 :] if "--" in argv else argv
    asyncio.run(run_agent(cast("Agent", PeerAgent(command))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
