"""FakeEditor: drives a real ``acp-bridge`` subprocess over real pipes, like an editor.

Every line in both directions is fed to the strict :class:`TranscriptChecker`, so each
test also checks that everything the bridge wrote was valid ACP in a valid order.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from support.acp_schema import TranscriptChecker

DEFAULT_TIMEOUT = 20.0


#: Updates about the session rather than its thread (:meth:`FakeEditor.updates`).
SESSION_LEVEL = frozenset(
    {
        "session_info_update",
        "available_commands_update",
        "config_option_update",
        "current_mode_update",
        "usage_update",
        "notice",
    }
)


def thread_update(message: dict[str, Any]) -> bool:
    """Whether ``message`` is a ``session/update`` of the thread (not a session-level one)."""
    if message.get("method") != "session/update":
        return False
    return message["params"]["update"].get("sessionUpdate") not in SESSION_LEVEL


class FakeEditor:
    """An ACP client speaking to ``python -m acp_bridge ARGS`` over pipes."""

    def __init__(
        self,
        *args: str,
        log_dir: Path,
        env: dict[str, str] | None = None,
        strict: bool = True,
        answer: Any = None,
        launcher: list[str] | None = None,
    ) -> None:
        full_env = dict(os.environ)
        full_env.setdefault("ACP_BRIDGE_EXAMPLE_PACE", "0.2")
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [
                *(launcher or []),
                *(sys.executable, "-m", "acp_bridge", "--log-dir", str(log_dir), *args),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
        )
        self.log_dir = log_dir
        self.strict = strict
        # answer(method, params) -> ("result", value) | ("error", {...}) | None (stay silent)
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        self.checker = TranscriptChecker()
        self.messages: list[dict[str, Any]] = []
        self.raw_lines: list[bytes] = []
        self.stderr_lines: list[str] = []
        self._responses: dict[Any, dict[str, Any]] = {}
        self._arrived = threading.Condition()
        self._next_id = 0
        self._inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        self._err = threading.Thread(target=self._read_stderr, daemon=True)
        self._err.start()

    # ------------------------------------------------------------------ pipes

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.raw_lines.append(line)
            if self.strict:
                self.checker.feed_from_agent(line)
            try:
                message = json.loads(line)
            except ValueError:
                message = {"unparseable": line.decode("utf-8", "replace")}
            with self._arrived:
                self.messages.append(message)
                if "id" in message and "method" not in message:
                    self._responses[message["id"]] = message
                self._arrived.notify_all()
            if "id" in message and "method" in message:
                self.requests.append(message)
                self._answer_request(message)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line.decode("utf-8", "replace").rstrip("\n"))

    def _answer_request(self, message: dict[str, Any]) -> None:
        reply = self.answer(message["method"], message.get("params")) if self.answer else None
        if reply is None:
            return
        kind, value = reply
        self.send({"jsonrpc": "2.0", "id": message["id"], kind: value})

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        if data.endswith(b"\n") and self.strict:
            self.checker.feed_from_client(data)
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.send_raw(json.dumps(message).encode() + b"\n")

    def request(self, method: str, params: dict[str, Any]) -> Any:
        msg_id = self._next_id
        self._next_id += 1
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return msg_id

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def wait_response(self, msg_id: Any, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while msg_id not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no response to {msg_id!r} in {timeout}s; stderr:\n"
                        + "\n".join(self.stderr_lines[-30:])
                    )
                self._arrived.wait(left)
            return self._responses[msg_id]

    def call(self, method: str, params: dict[str, Any], timeout: float = DEFAULT_TIMEOUT) -> Any:
        response = self.wait_response(self.request(method, params), timeout)
        assert "error" not in response, response
        return response["result"]

    def wait_for(self, predicate: Any, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = 0
        with self._arrived:
            while True:
                for message in self.messages[seen:]:
                    if predicate(message):
                        return message
                seen = len(self.messages)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("expected message never arrived")
                self._arrived.wait(left)

    def wait_stderr(self, needle: str, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        """The bridge's stderr lines containing ``needle``, once there is one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.stderr_lines if needle in line]
            if found:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{needle!r} never appeared on stderr: {self.stderr_lines[-20:]}")

    # ------------------------------------------------------------------ ACP steps

    def initialize(self, **capabilities: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call(
            "initialize",
            {
                "protocolVersion": 1,
                "clientCapabilities": capabilities or {"fs": {"readTextFile": False}},
                "clientInfo": {"name": "fake-editor", "version": "0"},
            },
        )
        return result

    def new_session(self, cwd: Path | str) -> str:
        session_id: str = self.call("session/new", {"cwd": str(cwd), "mcpServers": []})["sessionId"]
        return session_id

    def prompt(self, session_id: str, text: str) -> Any:
        return self.request(
            "session/prompt",
            {"sessionId": session_id, "prompt": [{"type": "text", "text": text}]},
        )

    def updates(
        self, session_id: str | None = None, *, session_level: bool = False
    ) -> list[dict[str, Any]]:
        """The ``session/update`` payloads received, of one session or all.

        The thread's updates only, unless ``session_level``: not the title, commands,
        options and mode the bridge sends about the session itself.
        """
        with self._arrived:
            return [
                m["params"]["update"]
                for m in self.messages
                if m.get("method") == "session/update"
                and (session_id is None or m["params"]["sessionId"] == session_id)
                and (
                    session_level or m["params"]["update"].get("sessionUpdate") not in SESSION_LEVEL
                )
            ]

    def close(self, timeout: float = 10.0) -> int:
        """Close stdin (the editor goes away) and wait for the bridge to exit."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        self._reader.join(5)
        self._err.join(5)
        self._close_pipes()
        return code

    def _close_pipes(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()

    def problems(self) -> list[str]:
        """Everything the strict checker found wrong, including unanswered requests."""
        return list(self.checker.finish())

    def __enter__(self) -> FakeEditor:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(5)
        self._err.join(5)
        self._close_pipes()
