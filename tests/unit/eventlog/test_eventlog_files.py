"""Opening files under the log directory: never through a link, only regular files, private."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from acp_bridge.errors import EventLogError, EventLogUnsafeFileError
from acp_bridge.eventlog.files import open_log_file, prepare_directory
from acp_bridge.eventlog.naming import segment_file_name
from acp_bridge.eventlog.rotation import FsyncPolicy
from acp_bridge.eventlog.writer import JsonlEventLog

if TYPE_CHECKING:
    from acp_bridge.counters import Counters

NEVER = FsyncPolicy(mode="never")


@pytest.fixture
def here(tmp_path: Path) -> Path:
    directory = tmp_path / "logs"
    directory.mkdir(mode=0o700)
    return directory


@pytest.mark.parametrize("flags", [os.O_RDONLY, os.O_RDWR | os.O_APPEND, os.O_WRONLY])
def test_a_link_is_refused_and_what_it_points_at_untouched(
    here: Path, tmp_path: Path, counters: Counters, flags: int
) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"keep")
    (here / "f").symlink_to(target)
    with pytest.raises(EventLogUnsafeFileError, match="symbolic link"):
        open_log_file(here / "f", flags, counters, create=True)
    assert counters.eventlog_unsafe_files == 1
    assert target.read_bytes() == b"keep"


def test_a_dangling_link_is_refused_and_nothing_is_created(
    here: Path, tmp_path: Path, counters: Counters
) -> None:
    (here / "f").symlink_to(tmp_path / "would-be-created")
    with pytest.raises(EventLogUnsafeFileError, match="symbolic link"):
        open_log_file(here / "f", os.O_RDWR, counters, create=True)
    assert not (tmp_path / "would-be-created").exists()


@pytest.mark.parametrize("flags", [os.O_RDONLY, os.O_RDWR, os.O_WRONLY])
def test_a_fifo_is_refused_without_blocking(here: Path, counters: Counters, flags: int) -> None:
    os.mkfifo(here / "f")
    done = threading.Event()

    def attempt() -> None:
        with pytest.raises(EventLogUnsafeFileError, match="a FIFO"):
            open_log_file(here / "f", flags, counters)
        done.set()

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(10)
    assert done.is_set(), "opening a FIFO blocked"
    assert counters.eventlog_unsafe_files == 1


def test_directories_and_devices_are_refused(here: Path, counters: Counters) -> None:
    (here / "d").mkdir()
    for flags in (os.O_RDONLY, os.O_RDWR):
        with pytest.raises(EventLogUnsafeFileError, match="a directory"):
            open_log_file(here / "d", flags, counters)
    with pytest.raises(EventLogUnsafeFileError, match="a character device"):
        open_log_file(Path("/dev/zero"), os.O_RDONLY, counters)
    assert counters.eventlog_unsafe_files == 3


def test_a_regular_file_opens_blocking_and_is_made_private(here: Path) -> None:
    path = here / "f"
    path.write_bytes(b"x")
    path.chmod(0o644)
    fd, created = open_log_file(path, os.O_RDONLY)
    try:
        assert not created
        assert os.get_blocking(fd)
        assert os.get_inheritable(fd) is False
    finally:
        os.close(fd)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    fd, created = open_log_file(here / "new", os.O_RDWR, create=True)
    os.close(fd)
    assert created
    assert stat.S_IMODE((here / "new").stat().st_mode) == 0o600


def test_a_missing_file_is_not_created_unless_asked(here: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_log_file(here / "missing", os.O_RDONLY)
    assert not (here / "missing").exists()


def test_the_directory_is_made_or_narrowed_to_0700(tmp_path: Path) -> None:
    made = tmp_path / "a" / "b"
    assert prepare_directory(made)
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    made.chmod(0o777)
    assert prepare_directory(made, create=False)
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    assert not prepare_directory(tmp_path / "missing", create=False)
    assert not (tmp_path / "missing").exists()
    (tmp_path / "file").write_text("")
    with pytest.raises(EventLogError, match="is a regular file"):
        prepare_directory(tmp_path / "file")


def test_a_directory_that_cannot_be_narrowed_is_said_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(0o777)

    def refuse(path: object, mode: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chmod", refuse)
    assert prepare_directory(directory)
    assert "cannot be made private (0700): Operation not permitted" in caplog.text


def test_a_writer_refuses_a_log_planted_as_a_link(
    here: Path, tmp_path: Path, counters: Counters
) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"no newline")
    (here / segment_file_name("s", 0)).symlink_to(target)
    with pytest.raises(EventLogUnsafeFileError, match="symbolic link"):
        JsonlEventLog(here, "s", counters=counters, fsync=NEVER)
    assert target.read_bytes() == b"no newline"
    assert counters.eventlog_unsafe_files == 1


def test_a_writer_refuses_an_older_segment_planted_as_a_link_while_resuming(
    here: Path, tmp_path: Path, counters: Counters
) -> None:
    with JsonlEventLog(here, "s", counters=counters, fsync=NEVER) as log:
        log.append({"type": "e"})
    first = here / segment_file_name("s", 0)
    first.rename(here / segment_file_name("s", 2))
    first.write_bytes(b"")
    (here / segment_file_name("s", 1)).symlink_to(tmp_path / "elsewhere")
    # The newest segment (2) holds the last record: the link is never reached.
    with JsonlEventLog(here, "s", counters=counters, fsync=NEVER) as log:
        assert log.next_index == 1
    (here / segment_file_name("s", 2)).write_bytes(b"")  # now the index is looked for further back
    with pytest.raises(EventLogUnsafeFileError, match="symbolic link"):
        JsonlEventLog(here, "s", counters=counters, fsync=NEVER)


@pytest.mark.parametrize("flags", [os.O_RDONLY, os.O_RDWR | os.O_APPEND, os.O_WRONLY])
def test_a_hard_link_is_refused_and_the_other_name_untouched(
    here: Path, tmp_path: Path, counters: Counters, flags: int
) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"keep")
    target.chmod(0o644)
    os.link(target, here / "f")
    before = target.stat()
    with pytest.raises(EventLogUnsafeFileError, match=r"a hard link \(2 names for one file\)"):
        open_log_file(here / "f", flags, counters, create=True)
    assert counters.eventlog_unsafe_files == 1
    after = target.stat()
    assert target.read_bytes() == b"keep"
    assert (stat.S_IMODE(after.st_mode), after.st_mtime_ns) == (0o644, before.st_mtime_ns)


def test_a_writer_never_cuts_or_appends_to_a_log_hard_linked_from_outside(
    here: Path, tmp_path: Path, counters: Counters
) -> None:
    target = tmp_path / "target"
    target.write_bytes(b'{"index":0,"type":"e"}\n{"index":1,"ty')  # a torn tail to cut
    os.link(target, here / segment_file_name("s", 0))
    with pytest.raises(EventLogUnsafeFileError, match="hard link"):
        JsonlEventLog(here, "s", counters=counters, fsync=NEVER)
    assert target.read_bytes() == b'{"index":0,"type":"e"}\n{"index":1,"ty'
    assert not (here / (segment_file_name("s", 0) + ".torn")).exists()
