"""The VM contract in protocol/ stays true to the code."""

from __future__ import annotations

import importlib.util
import json
import re
from typing import Any, get_args

from jsonschema import Draft202012Validator
from support.paths import DATA, REPO_ROOT

from acp_bridge.counters import CounterName
from acp_bridge.eventlog.records import (
    BRIDGE_TYPE_PREFIX,
    VM_TURN_OVER_RECORD,
    VM_TURN_STARTED_RECORD,
)
from acp_bridge.vm.catalog import CATALOGUE
from acp_bridge.vm.events import EVENT_TYPES, event_json_schema

ROOT = REPO_ROOT
SCHEMA_FILE = ROOT / "protocol" / "vm" / "agent-event.schema.json"
CONTRACT = ROOT / "protocol" / "vm" / "events.md"


def test_checked_in_schema_matches_the_models() -> None:
    spec = importlib.util.spec_from_file_location(
        "generate_schema", ROOT / "protocol" / "vm" / "generate_schema.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert SCHEMA_FILE.read_text(encoding="utf-8") == module.render(), (
        "protocol/vm/agent-event.schema.json is stale: run python protocol/vm/generate_schema.py"
    )


def test_schema_is_valid_2020_12_and_accepts_every_harn_example() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    pairs = json.loads((DATA / "harn_event_pairs.json").read_text())
    for pair in pairs:
        errors = [e.message for e in validator.iter_errors(pair["event"])]
        assert errors == [], (pair["event"]["type"], errors)


def test_schema_rejects_a_known_type_with_a_wrong_field_type() -> None:
    validator = Draft202012Validator(event_json_schema())
    bad = {"type": "agent_message_chunk", "session_id": "s", "content": 5}
    assert list(validator.iter_errors(bad))


def test_contract_documents_every_variant() -> None:
    text = CONTRACT.read_text(encoding="utf-8")
    missing = [t for t in sorted(EVENT_TYPES) if f"`{t}`" not in text]
    assert missing == []


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "generate_schema", ROOT / "protocol" / "vm" / "generate_schema.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_contract_catalogue_table_is_generated_from_the_catalogue() -> None:
    text = CONTRACT.read_text(encoding="utf-8")
    assert text == _generator().render_contract(text), (
        "protocol/vm/events.md is stale: run python protocol/vm/generate_schema.py"
    )
    for spec in CATALOGUE:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{spec.type}`"))
        assert f"| {spec.since}" in row


def test_counters_named_in_the_contract_are_the_codes() -> None:
    text = CONTRACT.read_text(encoding="utf-8")
    named = set(re.findall(r"`(vm_[a-z_]+)`", text))
    records = {VM_TURN_STARTED_RECORD, VM_TURN_OVER_RECORD}  # ``acp_bridge.vm_turn_*``
    counters = named - {record.removeprefix(BRIDGE_TYPE_PREFIX) for record in records}
    assert counters
    assert counters <= set(get_args(CounterName))
