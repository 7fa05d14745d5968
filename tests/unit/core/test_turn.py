"""The turn state machine: every (state, input) pair per the table, invariants, replay."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acp_bridge.core.turn import (
    FORWARDING,
    REPLAYED,
    TRANSITIONS,
    Phase,
    TurnInput,
    TurnMachine,
    TurnState,
)
from acp_bridge.errors import LocalProtocolError

STATES = st.sampled_from(list(TurnState))
INPUTS = st.sampled_from(list(TurnInput))
LOGGED = st.sampled_from(list(REPLAYED))


def check_invariants(machine: TurnMachine) -> None:
    state = machine.state
    assert machine.forwarding is (state in FORWARDING)
    if machine.forwarding:  # updates only inside a prompt turn
        assert machine.phase is not Phase.IDLE
    assert (machine.phase is Phase.IDLE) is (state is TurnState.IDLE)


@given(STATES, INPUTS)
def test_every_pair_transitions_per_the_table_or_raises(state: TurnState, event: TurnInput) -> None:
    machine = TurnMachine(state)
    target = TRANSITIONS.get((state, event))
    if target is None:
        with pytest.raises(LocalProtocolError):
            machine.handle(event)
        assert machine.state is state  # a refused input changes nothing
    else:
        assert machine.handle(event) is state
        assert machine.state is target
    check_invariants(machine)


def test_only_a_second_prompt_or_answering_no_turn_is_refused() -> None:
    refused = {(s, i) for s in TurnState for i in TurnInput} - set(TRANSITIONS)
    assert refused == {
        *((s, TurnInput.PROMPT) for s in TurnState if s is not TurnState.IDLE),
        (TurnState.IDLE, TurnInput.ANSWERED),
    }


@given(st.lists(INPUTS, max_size=30))
def test_the_rules_of_a_turn_hold_for_any_sequence_of_inputs(events: list[TurnInput]) -> None:
    machine = TurnMachine()
    for event in events:
        before = machine.state
        try:
            machine.handle(event)
        except LocalProtocolError:
            assert machine.state is before
            continue
        check_invariants(machine)
        after = machine.state
        if event is TurnInput.PROMPT:
            assert after is TurnState.PROMPTING  # a new turn forwards nothing yet
        elif event is TurnInput.ANSWERED:
            assert after is TurnState.IDLE
        elif event is TurnInput.CANCEL:
            assert machine.forwarding is (before in FORWARDING)  # the VM keeps its prompt
            assert (after is TurnState.IDLE) is (before is TurnState.IDLE)
        elif event is TurnInput.VM_HAS_PROMPT:
            assert machine.forwarding is (before is not TurnState.IDLE)
        else:  # VM_ANSWERED
            assert not machine.forwarding
        if before in (TurnState.CANCELLING, TurnState.CANCELLING_VM_TURN):
            # once cancelled, a turn stays cancelled until it is answered
            assert after is TurnState.IDLE or machine.phase is Phase.CANCELLING


def test_status_strings_are_the_phases() -> None:
    assert {TurnMachine(s).phase.value for s in TurnState} == {"idle", "prompting", "cancelling"}


@given(st.lists(LOGGED, max_size=30))
def test_a_replay_forwards_after_each_record_what_the_record_says(events: list[TurnInput]) -> None:
    machine = TurnMachine()
    for event in events:
        machine.follow(event)
        check_invariants(machine)
        assert machine.state is REPLAYED[event]


@given(st.lists(INPUTS, max_size=30))
def test_a_replay_of_a_live_sessions_records_follows_the_live_states(
    events: list[TurnInput],
) -> None:
    """Replaying the inputs that changed the live state keeps the same forwarding."""
    live, replayed = TurnMachine(), TurnMachine()
    for event in events:
        try:
            before = live.handle(event)
        except LocalProtocolError:
            continue
        if live.state is before or event not in REPLAYED:
            continue  # the live session logs only transitions that change its state
        replayed.follow(event)
        assert replayed.forwarding is live.forwarding
        assert (replayed.state is TurnState.IDLE) is (live.state is TurnState.IDLE)


def test_a_cancel_is_never_replayed() -> None:
    with pytest.raises(LocalProtocolError):
        TurnMachine().follow(TurnInput.CANCEL)
