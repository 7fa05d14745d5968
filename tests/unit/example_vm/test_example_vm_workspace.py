"""Which file the example agent reads, and what it makes of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from acp_bridge.example_vm import workspace
from acp_bridge.example_vm.workspace import find_file, summarise_file, summarise_text


def test_an_atx_heading_loses_its_closing_hashes() -> None:
    summary = summarise_text("## Widget ##\n\nA small tool.\n", complete=True)
    assert (summary.heading, summary.opening, summary.line_count) == ("Widget", "A small tool.", 3)


def test_an_underlined_heading_and_prose_after_badges_and_markup() -> None:
    text = "[![ci](badge.svg)](ci)\n<p align=center>\n\nWidget\n------\n\n  Does things.  \n"
    summary = summarise_text(text, complete=True)
    assert summary.heading == "Widget"
    assert summary.opening == "Does things."


def test_a_rule_alone_is_no_heading_and_no_prose() -> None:
    summary = summarise_text("---\n\n***\n", complete=True)
    assert (summary.heading, summary.opening) == (None, None)


def test_the_preview_is_the_first_forty_lines_as_written() -> None:
    text = "".join(f"line {n}\r\n" for n in range(100))
    summary = summarise_text(text, complete=True)
    assert summary.preview == "".join(f"line {n}\r\n" for n in range(40))
    assert summary.line_count == 100


def test_a_file_over_the_read_limit_is_summarised_from_its_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workspace, "MAX_READ_BYTES", 12)
    path = tmp_path / "big.txt"
    path.write_text("one\ntwo\nthree\nfour\n")
    summary = summarise_file(path)
    assert not summary.complete
    assert summary.line_count == 3  # "one\ntwo\nthre": a lower bound
    path.write_text("one\n")
    assert summarise_file(path).complete


def test_summarise_file_raises_when_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="No such file"):
        summarise_file(tmp_path / "gone.md")


def test_readmes_in_order_and_a_readme_directory_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "README.txt").write_text("x\n")
    (tmp_path / "readme.md").write_text("x\n")
    (tmp_path / "README.md").mkdir()
    assert find_file(tmp_path) == "readme.md"
    (tmp_path / "readme.md").unlink()
    assert find_file(tmp_path) == "README.txt"


def test_the_scan_is_breadth_first_and_sorted(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "deep.txt").write_text("deep\n")
    (tmp_path / "z.txt").write_text("top\n")
    (tmp_path / "b.txt").write_text("top\n")
    assert find_file(tmp_path) == "b.txt"


def test_the_scan_skips_large_binary_and_non_utf8_files_and_build_dirs(tmp_path: Path) -> None:
    (tmp_path / "a_large.txt").write_text("x" * (workspace.SMALL_FILE_BYTES + 1))
    (tmp_path / "b_latin1.txt").write_bytes("café\n".encode("latin-1"))
    (tmp_path / "c_nul.txt").write_bytes(b"text\0more")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "out.txt").write_text("built\n")
    assert find_file(tmp_path) is None
    (tmp_path / "d_utf8.txt").write_text("café\n")
    assert find_file(tmp_path) == "d_utf8.txt"


def test_the_scan_stops_at_its_depth(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["d"] * (workspace.SCAN_MAX_DEPTH + 1))
    deep.mkdir(parents=True)
    (deep / "far.txt").write_text("far\n")
    assert find_file(tmp_path) is None
    (deep.parent / "near.txt").write_text("near\n")
    assert find_file(tmp_path) == "/".join(["d"] * workspace.SCAN_MAX_DEPTH) + "/near.txt"


def test_the_scan_stops_at_its_entry_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workspace, "SCAN_MAX_ENTRIES", 3)
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    (tmp_path / "a" / "x.txt").write_text("x\n")
    assert find_file(tmp_path) is None
