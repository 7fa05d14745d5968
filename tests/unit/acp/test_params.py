"""Inbound ACP params: validated at the edge, with ACP's own leniencies."""

from __future__ import annotations

import pytest

from acp_bridge.acp.params import LoadSessionParams, NewSessionParams, parse_params
from acp_bridge.errors import RpcError


def test_additional_directories_default_to_none_and_null_means_none() -> None:
    plain = parse_params(NewSessionParams, {"cwd": "/w", "mcpServers": []})
    assert plain.additional_directories == []
    null = parse_params(
        NewSessionParams, {"cwd": "/w", "mcpServers": [], "additionalDirectories": None}
    )
    assert null.additional_directories == []
    loaded = parse_params(
        LoadSessionParams, {"sessionId": "s", "cwd": "/w", "additionalDirectories": ["/a", "/b"]}
    )
    assert loaded.additional_directories == ["/a", "/b"]


@pytest.mark.parametrize("dirs", [["relative"], "/not-a-list", [3]])
def test_additional_directories_must_be_absolute_paths(dirs: object) -> None:
    with pytest.raises(RpcError) as caught:
        parse_params(
            NewSessionParams, {"cwd": "/w", "mcpServers": [], "additionalDirectories": dirs}
        )
    assert caught.value.code == -32602
    data = caught.value.data
    assert isinstance(data, dict)
    assert str(data["field"]).startswith("additionalDirectories")
