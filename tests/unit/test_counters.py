"""Counters: every field has a name mypy knows, and ``add`` applies counts by name."""

from __future__ import annotations

from dataclasses import fields
from typing import get_args

from acp_bridge.counters import CounterName, Counters


def test_counter_names_are_exactly_the_fields() -> None:
    assert list(get_args(CounterName)) == [f.name for f in fields(Counters)]


def test_add_bumps_each_named_counter_by_its_count() -> None:
    counters = Counters(vm_overlong_lines=1)
    counters.add({"vm_overlong_lines": 2, "vm_events_outside_turn": 5})
    counters.add({})
    assert counters.nonzero() == {"vm_overlong_lines": 3, "vm_events_outside_turn": 5}
