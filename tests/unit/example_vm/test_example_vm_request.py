"""What a prompt asks for, and what the editor's capabilities offer."""

from __future__ import annotations

from typing import Any

import pytest

from acp_bridge.example_vm.request import Powers, Request


def test_texts_are_joined_and_attachments_named() -> None:
    blocks: list[Any] = [
        {"type": "text", "text": "look  at"},
        "not a block",
        {"type": "resource_link", "uri": "file:///a/notes.md", "name": "notes.md"},
        {"type": "resource_link", "uri": "file:///a/b/", "title": "The B folder"},
        {"type": "resource_link", "uri": "file:///a/c/"},
        {"type": "resource", "resource": {"uri": "file:///a/d.py", "text": "x"}},
        {"type": "resource", "resource": "broken"},
        {"type": "image", "data": "", "mimeType": "image/png"},
        {"type": "audio", "data": "", "mimeType": "audio/wav"},
        {"type": "video"},
        {"type": "text", "text": "these\n"},
    ]
    request = Request.from_prompt(blocks)
    assert request.text == "look at these"
    assert request.attachments == [
        "notes.md",
        "The B folder",
        "c",
        "d.py",
        "an image",
        "an audio clip",
    ]
    assert (request.command, request.write_notes) == (None, False)


def test_the_first_runnable_command_in_backticks_wins() -> None:
    request = Request.from_prompt([{"type": "text", "text": "`a 'b` then `make x` then `ls`"}])
    assert request.command == ["make", "x"]


@pytest.mark.parametrize(
    ("caps", "expected"),
    [
        (None, Powers()),
        ({}, Powers()),
        ({"fs": "yes", "terminal": "yes"}, Powers()),
        ({"fs": {"readTextFile": True}}, Powers(read=True)),
        (
            {"fs": {"readTextFile": True, "writeTextFile": True}, "terminal": True},
            Powers(read=True, write=True, terminal=True),
        ),
    ],
)
def test_powers_are_only_what_is_offered_exactly(caps: Any, expected: Powers) -> None:
    assert Powers.from_capabilities(caps) == expected


@pytest.mark.parametrize(
    ("text", "slash", "args", "command", "notes", "here"),
    [
        ("/files", "files", "", ["ls", "-la"], False, True),
        ("/run echo  'a b'", "run", "echo 'a b'", ["echo", "a b"], False, False),
        ("/run", "run", "", ["ls", "-la"], False, False),
        ("/notes remember this", "notes", "remember this", None, True, False),
        ("  /Help  ", "help", "", None, False, False),
        ("/mode auto", "mode", "auto", None, False, False),
        ("/nope", "nope", "", None, False, False),
    ],
)
def test_a_slash_command_is_read_as_what_it_stands_for(
    text: str, slash: str, args: str, command: list[str] | None, notes: bool, here: bool
) -> None:
    request = Request.from_prompt([{"type": "text", "text": text}])
    assert (request.slash, request.slash_args) == (slash, args)
    assert (request.command, request.write_notes, request.run_here) == (command, notes, here)


def test_a_slash_inside_the_text_is_no_command() -> None:
    request = Request.from_prompt([{"type": "text", "text": "what does /files do?"}])
    assert request.slash is None
    assert request.command is None
