"""Read the transcripts ``tee_agent.py`` writes and check them with ``TranscriptChecker``.

As a script: ``python tests/support/tools/transcripts.py TRANSCRIPT.jsonl...`` prints the
problems of each transcript and exits 1 when there are any.
"""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

_TESTS_DIR = str(Path(__file__).resolve().parent.parent.parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from support.acp_schema import TranscriptChecker  # noqa: E402 - needs tests/ on the path

Direction = Literal["client", "agent"]


@dataclass(frozen=True)
class Record:
    """One line of a transcript: who wrote it, when (``time.monotonic()``), and its bytes."""

    direction: Direction
    t: float
    raw: bytes

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", errors="replace")


def _record(entry: object) -> Record:
    if not isinstance(entry, dict):
        raise TypeError(f"a record must be an object, got {type(entry).__name__}")
    direction = entry["dir"]
    if direction not in ("client", "agent"):
        raise ValueError(f"bad dir {direction!r}")
    if "line_b64" in entry:
        raw = base64.b64decode(entry["line_b64"])
    else:
        raw = str(entry["line"]).encode("utf-8", errors="surrogateescape")
    return Record(direction, float(entry["t"]), raw)


def read_transcript(path: Path | str) -> list[Record]:
    """Return the records of a ``tee_agent.py`` transcript, in file order.

    Raises:
        ValueError: A line of the transcript file itself is malformed.
    """
    records: list[Record] = []
    text = Path(path).read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            records.append(_record(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a tee_agent record: {exc}") from exc
    return records


def check_records(records: list[Record], checker: TranscriptChecker | None = None) -> list[str]:
    """Feed ``records`` in order to a ``TranscriptChecker``; return its problems + ``finish()``."""
    checker = checker if checker is not None else TranscriptChecker()
    for record in records:
        if record.direction == "client":
            checker.feed_from_client(record.raw)
        else:
            checker.feed_from_agent(record.raw)
    return list(checker.finish())


def check_transcript(path: Path | str) -> list[str]:
    """Check a whole ``tee_agent.py`` transcript; an empty list means it is clean."""
    return check_records(read_transcript(path))


def cancel_answer_delays(records: list[Record]) -> list[float | None]:
    """For each ``session/cancel`` the client sent: ms until the agent answered the prompt.

    The delay runs from the cancel line to the agent's response to the ``session/prompt`` of
    the same session that was in flight then; ``None`` when no prompt was in flight or it was
    never answered. Times are ``tee_agent.py``'s, so this is the agent-side latency.
    """
    prompts: dict[Any, str] = {}  # in-flight client session/prompt request id -> sessionId
    waiting: list[tuple[float, set[Any], int]] = []  # (cancel time, prompt ids, result slot)
    delays: list[float | None] = []
    for record in records:
        try:
            message = json.loads(record.raw)
        except ValueError:
            continue
        if not isinstance(message, dict):
            continue
        params = message.get("params")
        session = params.get("sessionId") if isinstance(params, dict) else None
        method = message.get("method")
        if record.direction == "client" and method == "session/prompt" and "id" in message:
            prompts[message["id"]] = str(session)
        elif record.direction == "client" and method == "session/cancel":
            ids = {rid for rid, sid in prompts.items() if sid == session}
            waiting.append((record.t, ids, len(delays)))
            delays.append(None)
        elif record.direction == "agent" and method is None and message.get("id") in prompts:
            rid = message["id"]
            del prompts[rid]
            for t, ids, slot in waiting:
                if rid in ids and delays[slot] is None:
                    delays[slot] = round((record.t - t) * 1000, 1)
    return delays


def main(argv: list[str]) -> int:
    failed = False
    for name in argv:
        records = read_transcript(name)
        problems = check_records(records)
        failed = failed or bool(problems)
        delays = cancel_answer_delays(records)
        print(
            f"{name}: {len(records)} lines, {len(problems)} problem(s), "
            f"cancel answered after {delays} ms"
        )
        for problem in problems:
            print(f"  {problem}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
