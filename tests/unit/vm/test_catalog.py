"""The vocabulary as data: the catalogue is consistent, and it drives the decoder."""

from __future__ import annotations

from typing import Any

import pytest

from acp_bridge.vm.catalog import BY_TAG, CATALOGUE, ENVELOPE_KEYS, Acp, Rule, parse_fields
from acp_bridge.vm.events import (
    MODELS,
    GenericEvent,
    InvalidEvent,
    UnknownEvent,
    decode_event,
    encode_event,
)

HAND_WRITTEN = [spec for spec in CATALOGUE if spec.model is not None]
#: Required values narrower than their shape (the model holds them to ACP's).
MINIMAL_VALUES: dict[str, dict[str, Any]] = {"notice": {"severity": "info"}}


def test_each_tag_has_one_entry_and_types_are_unique() -> None:
    tags = [tag for spec in CATALOGUE for tag in spec.tags]
    assert len(tags) == len(set(tags)) == len(BY_TAG) == 89 + 7  # Harn's, and 7 of the bridge's
    assert BY_TAG["turn_start"].type == "iteration_start"
    assert BY_TAG["turn_end"].type == "iteration_end"


@pytest.mark.parametrize("spec", HAND_WRITTEN, ids=lambda s: s.type)
def test_hand_written_models_have_their_entrys_fields(spec: Any) -> None:
    model = MODELS[spec.type]
    fields = {name: info for name, info in model.model_fields.items() if name != "type"}
    assert set(fields) == {"session_id", *(f.name for f in spec.fields)}
    for field in spec.fields:
        assert fields[field.name].is_required() == field.required, field.name


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda s: s.type)
def test_a_minimal_line_of_every_type_decodes_and_round_trips(spec: Any) -> None:
    samples = {"str": "x", "int": 1, "num": 0.5, "bool": True, "any": None, "obj": {}}
    raw: dict[str, Any] = {"type": spec.type, "session_id": "s"}
    for field in spec.fields:
        if field.required:
            raw[field.name] = samples.get(field.shape, [])
    raw.update(MINIMAL_VALUES.get(spec.type, {}))
    event = decode_event(raw)
    assert not isinstance(event, UnknownEvent | InvalidEvent), event
    assert encode_event(event) == raw
    assert isinstance(event, GenericEvent) == (spec.model is None)


def test_old_names_decode_as_the_new_event_and_keep_their_tag() -> None:
    raw = {"type": "turn_end", "session_id": "s", "iteration": 2, "turn_info": {"tool_count": 1}}
    event = decode_event(raw)
    assert type(event) is MODELS["iteration_end"]
    assert encode_event(event) == raw


def test_envelope_keys_are_never_part_of_an_event() -> None:
    raw = {"type": "skill_activated", "session_id": "s", "skill_name": "k"}
    event = decode_event({**raw, **dict.fromkeys(ENVELOPE_KEYS, 1), "execution_id": None})
    assert encode_event(event) == raw  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "plan", "session_id": "s", "plan": {"steps": "not a list"}},
        {"type": "plan", "session_id": "s", "plan": [{"step": "Inspect.", "priority": 1}]},
        {"type": "plan", "session_id": "s", "plan": "free text"},
        {
            "type": "worker_update",
            "session_id": "s",
            "worker_id": "w",
            "metadata": {"error": {"message": "x"}},
        },
        {"type": "tool_call_update", "session_id": "s", "tool_call_id": "c", "parsing": True},
    ],
)
def test_shapes_harn_accepts_are_valid(raw: dict[str, Any]) -> None:
    event = decode_event(raw)
    assert not isinstance(event, UnknownEvent | InvalidEvent), event
    assert encode_event(event) == raw


def test_a_required_field_is_still_required() -> None:
    decoded = decode_event({"type": "user_message", "session_id": "s", "content": []})
    assert isinstance(decoded, InvalidEvent)
    assert decoded.reason.startswith("message_id:")


def test_the_field_notation() -> None:
    [a, b, c] = parse_fields("a:str b:int|null c:[str]?")
    assert (a.rule, b.rule, c.rule) == (Rule.REQUIRED, Rule.NULLABLE, Rule.OMITTED)
    assert c.shape == "[str]"
    for bad in ("nocolon", "x:float", ":str"):
        with pytest.raises(ValueError, match="field"):
            parse_fields(bad)


def test_every_standard_concept_is_routed_to_standard_acp() -> None:
    routes = {spec.type: spec.acp for spec in CATALOGUE}
    assert routes["user_message"] is Acp.USER_MESSAGE
    assert routes["plan_document_updated"] is Acp.PLAN_DOCUMENT
    assert routes["progress_reported"] is Acp.PROGRESS
    assert all(spec.acp.standard for spec in HAND_WRITTEN)
