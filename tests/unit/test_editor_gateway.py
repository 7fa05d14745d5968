"""The editor gateway's per-method limits and the cwd gate's decision on resolved paths."""

from __future__ import annotations

from typing import Any

import pytest

from acp_bridge.core.editor_calls import check
from acp_bridge.editor_gateway import QUICK_TIMEOUT_S, timeout_for
from acp_bridge.errors import RpcError

CAPS = {"fs": {"readTextFile": True, "writeTextFile": True}, "terminal": True}


@pytest.mark.parametrize(
    ("method", "cap", "expected"),
    [
        ("fs/read_text_file", None, QUICK_TIMEOUT_S),
        ("fs/write_text_file", None, QUICK_TIMEOUT_S),
        ("terminal/output", None, QUICK_TIMEOUT_S),
        ("terminal/create", None, QUICK_TIMEOUT_S),
        ("session/request_permission", None, None),  # a person decides
        ("terminal/wait_for_exit", None, None),  # a command runs as long as it runs
        ("fs/read_text_file", 5.0, 5.0),  # --editor-timeout bounds every method...
        ("session/request_permission", 600.0, 600.0),
        ("fs/read_text_file", 600.0, QUICK_TIMEOUT_S),  # ...but never lengthens one
    ],
)
def test_each_method_has_its_limit_and_editor_timeout_bounds_them_all(
    method: str, cap: float | None, expected: float | None
) -> None:
    assert timeout_for(method, cap) == expected


def links(table: dict[str, str]) -> Any:
    """A resolver standing in for the file system: these paths lead elsewhere."""
    return lambda path: table.get(path, path)


def test_the_gate_decides_on_the_resolved_path_and_the_resolved_roots() -> None:
    outside = links({"/work/out/secret": "/elsewhere/secret"})
    with pytest.raises(RpcError, match=r"outside the session's directories \(it leads to"):
        check(
            "fs/read_text_file",
            {"path": "/work/out/secret"},
            CAPS,
            ["/work"],
            allow_outside=False,
            resolve=outside,
        )
    linked_cwd = links({"/link": "/real", "/link/a.txt": "/real/a.txt"})
    for path in ("/link/a.txt", "/real/a.txt"):
        check(
            "fs/read_text_file",
            {"path": path},
            CAPS,
            ["/link"],
            allow_outside=False,
            resolve=linked_cwd,
        )
    check(
        "terminal/create",
        {"command": "ls", "cwd": "/work/out"},
        CAPS,
        ["/work"],
        allow_outside=True,  # --allow-outside-cwd: nothing to resolve
        resolve=outside,
    )


def test_a_relative_path_is_refused_before_anything_is_resolved() -> None:
    def never(path: str) -> str:
        raise AssertionError("resolved a relative path")

    with pytest.raises(RpcError, match="needs absolute paths"):
        check(
            "fs/read_text_file",
            {"path": "rel/a"},
            CAPS,
            ["/work"],
            allow_outside=False,
            resolve=never,
        )
