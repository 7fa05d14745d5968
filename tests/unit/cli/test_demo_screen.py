"""How ``acp-bridge demo`` renders the session-level updates, fed straight to its screen."""

from __future__ import annotations

from typing import Any

import pytest

from acp_bridge.cli.demo import Screen


def rendered(updates: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> list[str]:
    screen = Screen(colour=False)
    for update in updates:
        screen.update(update)
    screen.end_run()
    return capsys.readouterr().out.splitlines()


def test_commands_options_mode_title_usage_and_notices(capsys: pytest.CaptureFixture[str]) -> None:
    model = {
        "type": "select",
        "id": "model",
        "name": "Model",
        "currentValue": "brief",
        "options": [{"value": "thorough", "name": "Thorough"}, {"value": "brief", "name": "Brief"}],
    }
    lines = rendered(
        [
            {
                "sessionUpdate": "available_commands_update",
                "availableCommands": [
                    {"name": "help", "description": "Help"},
                    {"name": "run", "description": "Run", "input": {"hint": "command"}},
                ],
            },
            {"sessionUpdate": "config_option_update", "configOptions": [model]},
            {"sessionUpdate": "current_mode_update", "currentModeId": "auto"},
            {"sessionUpdate": "session_info_update", "title": "A title", "updatedAt": "x"},
            {"sessionUpdate": "session_info_update", "updatedAt": "y"},  # nothing to show
            {
                "sessionUpdate": "usage_update",
                "used": 1441,
                "size": 200000,
                "cost": {"amount": 0.0043, "currency": "USD"},
            },
            {"sessionUpdate": "usage_update", "used": 10, "size": 100},
            {"sessionUpdate": "notice", "severity": "warning", "title": "Careful"},
            {"sessionUpdate": "notice", "severity": "info", "title": "T", "description": "D"},
        ],
        capsys,
    )
    assert lines == [
        "commands: /help, /run <command>",
        "model: Brief (or Thorough)",
        "mode: auto",
        "title: A title",
        "usage: 1,441 of 200,000 tokens (0.7%), 0.0043 USD so far",
        "usage: 10 of 100 tokens (10.0%)",
        "! warning: Careful",
        "! info: T — D",
    ]


def test_terminal_output_streams_in_lines_and_replaces_the_text_excerpt(
    capsys: pytest.CaptureFixture[str],
) -> None:
    call = "call_1"
    lines = rendered(
        [
            {
                "sessionUpdate": "tool_call",
                "toolCallId": call,
                "title": "Run ls",
                "status": "pending",
            },
            {"sessionUpdate": "tool_call_update", "toolCallId": call, "status": "in_progress"},
            *(
                {
                    "sessionUpdate": "tool_call_update",
                    "toolCallId": call,
                    "_meta": {"terminal_output": {"terminal_id": "t", "data": data}},
                }
                for data in ("a\nb", "c\n", "d")
            ),
            {
                "sessionUpdate": "tool_call_update",
                "toolCallId": call,
                "_meta": {"terminal_exit": {"terminal_id": "t", "exit_code": 0}},
            },
            {
                "sessionUpdate": "tool_call_update",
                "toolCallId": call,
                "status": "completed",
                "content": [{"type": "content", "content": {"type": "text", "text": "a\nbc\nd"}}],
            },
        ],
        capsys,
    )
    assert lines == [
        "  … Run ls pending",
        "  ▶ Run ls in_progress",
        "    $ a",
        "    $ bc",
        "    $ d",
        "    $ [exit status 0]",
        "  ✓ Run ls completed",
    ]
