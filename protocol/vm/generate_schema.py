"""Regenerate ``agent-event.schema.json`` from the models in ``acp_bridge.vm_events``.

Run ``python protocol/vm/generate_schema.py`` after changing a model; the test suite fails
while the checked-in schema and the code disagree.
"""

from __future__ import annotations

import json
from pathlib import Path

from acp_bridge.vm.events import event_json_schema

SCHEMA_PATH = Path(__file__).with_name("agent-event.schema.json")


def render() -> str:
    """The schema file's exact text."""
    return json.dumps(event_json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.write_text(render(), encoding="utf-8")
    print(SCHEMA_PATH)
