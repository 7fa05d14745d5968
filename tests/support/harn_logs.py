"""The two Harn logs of the tests (one line per variant) and what every update must satisfy."""

from __future__ import annotations

import json
from typing import Any

from support.paths import DATA

#: harn-vm 0.8.43: one line per variant (55), in Harn's envelope.
HARN_0_8_43 = DATA / "harn_0.8.43_event_log.jsonl"
#: The newest Harn: one line per variant (86), its envelope with ``execution_id``.
HARN_NEWEST = DATA / "harn_newest_event_log.jsonl"
HARN_LOGS = {"0.8.43": HARN_0_8_43, "newest": HARN_NEWEST}
#: The envelope keys, as written and as they would leak camelCased.
ENVELOPE_NAMES = frozenset(
    {
        "index",
        "emitted_at_ms",
        "frame_depth",
        "execution_id",
        "emittedAtMs",
        "frameDepth",
        "executionId",
    }
)


def events(path: Any) -> list[dict[str, Any]]:
    """The log's lines as JSON objects (envelope included)."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def leaked_envelope_keys(message: Any) -> list[str]:
    """Envelope keys anywhere at the top of a message's params or update."""
    params = message.get("params") if isinstance(message, dict) else None
    if not isinstance(params, dict):
        return []
    found = [key for key in params if key in ENVELOPE_NAMES]
    update = params.get("update")
    if isinstance(update, dict):
        found += [key for key in update if key in ENVELOPE_NAMES]
        meta = update.get("_meta", {}).get("harn", {})
        found += [key for key in meta if key in ENVELOPE_NAMES]
    return found
