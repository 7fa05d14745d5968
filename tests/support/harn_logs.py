"""The two Harn logs of the tests (one line per variant) and what every update must satisfy."""

from __future__ import annotations

import json
import re
from typing import Any

from acp_bridge.core.harn import EXTENSION_UPDATE_TYPES
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


def harn_0_8_17_shape(message: dict[str, Any]) -> dict[str, Any]:
    """A 0.7.50 pair's extension update in the shape of Harn 0.8.17 and later.

    Harn's adapter moved every field but ``sessionUpdate`` under ``_meta.harn`` (and omits
    a ``worker_update``'s absent audit); nothing else changed.
    """
    update = dict(message["params"]["update"])
    name = update.pop("sessionUpdate")
    if name == "worker_update" and update.get("audit") is None:
        update.pop("audit", None)
    params = {**message["params"], "update": {"sessionUpdate": name, "_meta": {"harn": update}}}
    return {**message, "params": params}


_HARN_NAME = re.compile(r"sessionUpdate: '([a-z_]+)' is not one of")
_HARN_PLAN_KEY = re.compile(r"\$\.params\.update: .*\('harn[A-Z][A-Za-z]*' was unexpected\)")


def beyond_harns_names(problems: list[str]) -> list[str]:
    """Strict-schema problems, but for the two things Harn mode sends on purpose.

    Harn mode sends what Harn's adapter sends: its extension updates (``skill_activated``,
    ``worker_update``, ...) as ``session/update``s, whose ``sessionUpdate`` is not one of
    ACP's, and a plan's ``harnPlan`` (``harnPlanDocument``, ``harnProgress``) beside its
    entries. Every other problem is kept.
    """
    return [
        problem
        for problem in problems
        if not ((found := _HARN_NAME.search(problem)) and found[1] in EXTENSION_UPDATE_TYPES)
        and not _HARN_PLAN_KEY.search(problem)
    ]


def unmarked(message: dict[str, Any]) -> dict[str, Any]:
    """A message without Harn's replay marker (what it was live)."""
    params = dict(message.get("params", {}))
    params.pop("replayed", None)
    update = params.get("update")
    if isinstance(update, dict) and "_meta" in update:
        update = dict(update)
        meta = dict(update.pop("_meta"))
        harn = {k: v for k, v in meta.pop("harn", {}).items() if k != "replayed"}
        if harn:
            meta["harn"] = harn
        if meta:
            update["_meta"] = meta
        params["update"] = update
    return {**message, "params": params}
