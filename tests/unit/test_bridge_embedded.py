"""The bridge embedded in a process: ``run`` serves ACP on the descriptors it is handed."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
from support.paths import VMS

import acp_bridge

EXEC_VM = (sys.executable, str(VMS / "exec_vm.py"), "--echo")


def test_run_serves_on_the_given_descriptors(tmp_path: Path) -> None:
    to_bridge_r, to_bridge_w = os.pipe()
    from_bridge_r, from_bridge_w = os.pipe()
    settings = acp_bridge.Settings(
        vm_mode="exec", vm_argv=EXEC_VM, log_dir=tmp_path / "logs", tune_process=False
    )
    answers: dict[Any, Any] = {}
    updates: list[Any] = []

    def send(message: dict[str, Any]) -> None:
        os.write(to_bridge_w, json.dumps({"jsonrpc": "2.0", **message}).encode() + b"\n")

    async def client() -> None:
        buffer = b""
        send({"id": 1, "method": "initialize", "params": {"protocolVersion": 1}})
        send({"id": 2, "method": "session/new", "params": {"cwd": str(tmp_path), "mcpServers": []}})
        while 3 not in answers:
            await anyio.wait_readable(from_bridge_r)
            buffer += os.read(from_bridge_r, 1 << 16)
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                message = json.loads(line)
                if "id" in message and "method" not in message:
                    answers[message["id"]] = message
                    if message["id"] == 2:
                        prompt = [{"type": "text", "text": "hello"}]
                        session_id = message["result"]["sessionId"]
                        send(
                            {
                                "id": 3,
                                "method": "session/prompt",
                                "params": {"sessionId": session_id, "prompt": prompt},
                            }
                        )
                else:
                    updates.append(message)
        os.close(to_bridge_w)  # the editor goes away: the bridge stops

    async def main() -> int:
        async with anyio.create_task_group() as group:
            group.start_soon(client)
            status = await acp_bridge.run(settings, stdin_fd=to_bridge_r, stdout_fd=from_bridge_w)
        return status

    assert anyio.run(main) == 0
    for fd in (to_bridge_r, from_bridge_r, from_bridge_w):
        os.close(fd)
    assert answers[1]["result"]["protocolVersion"] == 1
    assert answers[3]["result"] == {"stopReason": "end_turn"}
    [update] = [
        u for u in updates if u["params"]["update"]["sessionUpdate"] == "agent_message_chunk"
    ]
    assert update["params"]["update"]["content"]["text"] == "hello"
