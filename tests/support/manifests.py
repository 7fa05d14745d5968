"""VM manifests the tests declare: one of everything a manifest may hold."""

from __future__ import annotations

from typing import Any

MODES: dict[str, Any] = {
    "currentModeId": "ask",
    "availableModes": [{"id": "ask", "name": "Ask"}, {"id": "code", "name": "Code"}],
}
MODEL: dict[str, Any] = {
    "type": "select",
    "id": "model",
    "name": "Model",
    "category": "model",
    "currentValue": "m1",
    "options": [{"value": "m1", "name": "Model 1"}, {"value": "m2", "name": "Model 2"}],
}
WEB: dict[str, Any] = {"type": "boolean", "id": "web", "name": "Web search", "currentValue": False}
#: Everything a manifest may declare.
FULL: dict[str, Any] = {
    "manifestVersion": 1,
    "agentInfo": {"name": "my-agent", "title": "My Agent", "version": "1.2.0"},
    "promptCapabilities": {"image": True, "audio": False, "embeddedContext": False},
    "mcpCapabilities": {"http": True, "sse": False},
    "authMethods": [{"id": "login", "name": "Log in", "description": "with a browser"}],
    "modes": MODES,
    "configOptions": [MODEL, WEB],
    "commands": [{"name": "review", "description": "Review the diff", "input": {"hint": "focus"}}],
}
#: The mode as an option, as the bridge adds it to the declared options.
MODE_OPTION: dict[str, Any] = {
    "type": "select",
    "id": "mode",
    "name": "Mode",
    "category": "mode",
    "currentValue": "ask",
    "options": [{"value": "ask", "name": "Ask"}, {"value": "code", "name": "Code"}],
}
