"""What the example agent says: pure functions of what the turn learnt."""

from __future__ import annotations

from pathlib import Path

import pytest

from acp_bridge.example_vm.prose import (
    OPENING_LIMIT,
    Outcome,
    answer_text,
    chunk_words,
    exit_text,
    first_thought,
    join_names,
    lines,
    notes_text,
    quoted,
    second_thought,
    shorten,
)
from acp_bridge.example_vm.request import Request
from acp_bridge.example_vm.workspace import FileSummary

CWD = Path("/projects/widget")
SUMMARY = FileSummary(
    preview="# Widget\n", line_count=12, complete=True, heading="Widget", opening="A tool."
)


def test_no_text_no_chunks() -> None:
    assert list(chunk_words("", 3)) == []
    assert list(chunk_words("one", 3)) == ["one"]


def test_shorten_puts_text_on_one_line_and_marks_a_cut() -> None:
    assert shorten("a  b\n c", 10) == "a b c"
    assert shorten("abcdef ghij", 8) == "abcdef…"
    assert len(shorten("x" * 500, 160)) == 160


@pytest.mark.parametrize(
    ("text", "expected"), [("hi", "“hi”."), ("why?", "“why?”"), ("done.", "“done.”")]
)
def test_quoted_ends_a_sentence(text: str, expected: str) -> None:
    assert quoted(text, 80) == expected


def test_names_lines_and_exits_in_words() -> None:
    assert [join_names(n) for n in ([], ["a"], ["a", "b"], ["a", "b", "c"])] == [
        "",
        "a",
        "a and b",
        "a, b and c",
    ]
    assert (lines(1), lines(2)) == ("1 line", "2 lines")
    assert exit_text(0, None) == "it succeeded"
    assert exit_text(2, None) == "it exited with status 2"
    assert exit_text(None, "SIGKILL") == "it was stopped by SIGKILL"


def test_the_thoughts_name_the_request_and_the_file() -> None:
    asked = Request(text="What is this?", attachments=[])
    assert first_thought(asked, CWD, "README.md").startswith("The user asks “What is this?”")
    assert "README.md looks like the place to start" in first_thought(asked, CWD, "README.md")
    assert first_thought(Request("", ["an image"]), CWD, None).startswith("The prompt has no text")
    assert second_thought("README.md", SUMMARY, None).startswith("README.md has 12 lines")
    assert "failed (gone)" in second_thought("README.md", None, "gone")


def test_the_answer_is_paragraphs_with_what_the_tools_did_before_the_last() -> None:
    request = Request(text="hi", attachments=["notes.md", "an image"])
    plain = answer_text(request, CWD, "README.md", SUMMARY, None, [Outcome("read_file", "")])
    paragraphs = plain.split("\n\n")
    assert len(paragraphs) == 3
    assert paragraphs[0] == "You asked: “hi”. You also pointed me at notes.md and an image."
    assert paragraphs[1] == (
        "I read README.md in widget: it has 12 lines, and its first heading is “Widget”. "
        "It begins: “A tool.”"
    )
    ran = Outcome("run_command", "I ran `ls`.")
    with_tools = answer_text(request, CWD, "README.md", SUMMARY, None, [ran])
    assert with_tools.split("\n\n") == [*paragraphs[:2], "I ran `ls`.", paragraphs[2]]


def test_the_answer_about_a_file_it_could_not_read_or_not_read_whole() -> None:
    failed = answer_text(Request("", []), CWD, "README.md", None, "denied", [])
    assert failed.startswith("You sent no text.\n\nI tried to read README.md in widget")
    partial = FileSummary(preview="", line_count=5, complete=False, heading=None, opening=None)
    said = answer_text(Request("x", []), CWD, "big.txt", partial, None, [])
    assert "it has more than 5 lines, and no heading that I could find." in said


def test_the_notes_list_the_file_and_each_tool_that_said_something() -> None:
    opening = "word " * 100
    summary = FileSummary(preview="", line_count=1, complete=True, heading=None, opening=opening)
    done = [Outcome("read_file", ""), Outcome("run_command", "I ran `ls`: it succeeded.")]
    notes = notes_text(Request("save notes", []), "README.md", summary, None, done)
    assert notes.splitlines() == [
        "# Notes from acp-bridge's example agent",
        "",
        "Asked: save notes",
        "",
        "- README.md: 1 line",
        f"  - begins: {shorten(opening, OPENING_LIMIT)}",
        "- I ran `ls`: it succeeded.",
    ]
    assert notes_text(Request("", []), "x", None, "gone", []).endswith(
        "- x: could not be read (gone)\n"
    )
