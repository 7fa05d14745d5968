"""The small decisions at the VM edge: which environment, how much stderr."""

from __future__ import annotations

from acp_bridge.vm.process import StderrBudget
from acp_bridge.vm.supervisor import vm_environment


def test_the_environment_is_all_of_it_or_only_the_allowed_names() -> None:
    environ = {"PATH": "/bin", "HOME": "/h", "LC_ALL": "C", "LC_TIME": "C", "TOKEN": "s"}
    assert vm_environment(environ, None) == environ
    assert vm_environment(environ, ("PATH", "LC_*")) == {
        "PATH": "/bin",
        "LC_ALL": "C",
        "LC_TIME": "C",
    }
    assert vm_environment(environ, ()) == {}
    assert vm_environment(environ, ("path",)) == {}  # names are case-sensitive


def test_stderr_budget_passes_bursts_thins_floods_and_refills() -> None:
    budget = StderrBudget(burst=3, rate=10, tokens=3)
    assert [budget.allow(0.0) for _ in range(5)] == [True, True, True, False, False]
    assert budget.suppressed == 2
    assert budget.allow(0.1)  # 0.1 s at 10 lines/s: one more line
    assert not budget.allow(0.1)
    assert [budget.allow(10.0) for _ in range(4)] == [True, True, True, False]  # capped
