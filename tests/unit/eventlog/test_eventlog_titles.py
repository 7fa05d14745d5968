"""``session/list``'s title: the VM's latest (a ``session_info`` event), else the first prompt.

Only a log's head and tail are read, so a title the VM set early is found in the head, a
late one in the tail, and one set in between is written again into the session record of
each load or resume (found in the tail from then on).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from acp_bridge.eventlog.catalog import Catalog
from acp_bridge.eventlog.records import prompt_record, session_record
from acp_bridge.eventlog.rotation import FsyncPolicy
from acp_bridge.eventlog.summary import HEAD_BYTES, TAIL_BYTES
from acp_bridge.eventlog.writer import JsonlEventLog

if TYPE_CHECKING:
    from pathlib import Path

    from acp_bridge.counters import Counters

SID = "7f3c2a9e-1b4d-4c8e-9a55-0d2e6b1f8c33"
FILLER = {"type": "agent_message_chunk", "session_id": SID, "content": "x" * 1000}


def write(log_dir: Path, counters: Counters, records: list[dict[str, Any]]) -> None:
    with JsonlEventLog(log_dir, SID, counters=counters, fsync=FsyncPolicy(mode="never")) as log:
        for record in records:
            log.append(record)


def title(log_dir: Path, counters: Counters) -> str | None:
    [entry] = Catalog(log_dir, counters).sessions()
    return entry.title


def info(text: Any) -> dict[str, Any]:
    return {"type": "session_info", "session_id": SID, "title": text}


def opening(**extra: Any) -> list[dict[str, Any]]:
    prompt = prompt_record(SID, [{"type": "text", "text": "the first prompt"}])
    return [session_record(SID, "/w", [], [], **extra), prompt]


def test_the_first_prompt_without_a_title_of_the_vms(log_dir: Path, counters: Counters) -> None:
    write(log_dir, counters, [*opening(), info(7), info("  ")])  # not titles
    assert title(log_dir, counters) == "the first prompt"


def test_the_vms_latest_title_in_the_head_or_the_tail(log_dir: Path, counters: Counters) -> None:
    write(log_dir, counters, [*opening(), info("Early"), info("Later")])
    assert title(log_dir, counters) == "Later"
    many = (HEAD_BYTES + TAIL_BYTES) // 1000 + 10
    write(log_dir, counters, [FILLER] * many + [info("At the end\nof the log")])
    assert title(log_dir, counters) == "At the end of the log"


def test_a_title_set_in_between_is_found_after_a_reopen(log_dir: Path, counters: Counters) -> None:
    many = HEAD_BYTES // 1000 + 10
    tail = TAIL_BYTES // 1000 + 10
    write(log_dir, counters, [*opening(), *[FILLER] * many, info("Middle"), *[FILLER] * tail])
    assert title(log_dir, counters) == "the first prompt"  # neither head nor tail holds it
    write(log_dir, counters, [session_record(SID, "/w", [], [], title="Middle")])
    assert title(log_dir, counters) == "Middle"
