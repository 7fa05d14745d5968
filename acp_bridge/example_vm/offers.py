"""What the example VM offers the editor, and what the editor chose: modes, model, commands.

The offers are the VM's own manifest (``manifest.json`` next to this module, which the
bridge reads too): two modes (``ask`` asks before running a command or writing a file,
``auto`` does not), a ``model`` option that changes how the agent talks, and slash
commands. :class:`Choices` holds the session's current values, as ``initialize``,
``session/set_mode`` and ``session/set_config_option`` give them, and builds the payloads
of the events that tell the editor about them (``available_commands``, ``mode_changed``,
``config_options``).

Rule: the manifest is read once, at import; a value not declared there is refused, so the
VM never runs with a mode or model it did not offer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

MANIFEST: Final[dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parent / "manifest.json").read_text(encoding="utf-8")
)
MODE_OPTION_ID: Final = "mode"  # the mode as an option, as the bridge offers it
MODEL_OPTION_ID: Final = "model"
MODES: Final[tuple[str, ...]] = tuple(m["id"] for m in MANIFEST["modes"]["availableModes"])
_MODEL: Final[dict[str, Any]] = next(
    o for o in MANIFEST["configOptions"] if o["id"] == MODEL_OPTION_ID
)
MODELS: Final[tuple[str, ...]] = tuple(choice["value"] for choice in _MODEL["options"])
COMMANDS: Final[tuple[str, ...]] = tuple(c["name"] for c in MANIFEST["commands"])


def commands() -> list[dict[str, Any]]:
    """The slash commands, as the ``available_commands`` event lists them."""
    return [dict(command) for command in MANIFEST["commands"]]


def mode_name(mode_id: str) -> str:
    """A mode's display name."""
    return str(next(m["name"] for m in MANIFEST["modes"]["availableModes"] if m["id"] == mode_id))


def model_name(model: str) -> str:
    """A model's display name."""
    return str(next(c["name"] for c in _MODEL["options"] if c["value"] == model))


class Refused(ValueError):
    """A mode or option value the manifest does not declare."""


@dataclass(slots=True)
class Choices:
    """The session's mode and model."""

    mode: str = MANIFEST["modes"]["currentModeId"]
    model: str = _MODEL["currentValue"]

    @property
    def asks(self) -> bool:
        """Whether the user is asked before a command runs or a file is written."""
        return self.mode == "ask"

    @property
    def brief(self) -> bool:
        """Whether the agent keeps its words short."""
        return self.model == "brief"

    def set_mode(self, mode_id: Any) -> None:
        """Switch the mode.

        Raises:
            Refused: Not a declared mode.
        """
        if mode_id not in MODES:
            raise Refused(f"unknown mode {mode_id!r}: expected one of {', '.join(MODES)}")
        self.mode = mode_id

    def set_option(self, config_id: Any, value: Any) -> None:
        """Set one config option (the mode is one too).

        Raises:
            Refused: Not a declared option, or not one of its values.
        """
        if config_id == MODE_OPTION_ID:
            self.set_mode(value)
        elif config_id == MODEL_OPTION_ID:
            if value not in MODELS:
                raise Refused(f"unknown model {value!r}: expected one of {', '.join(MODELS)}")
            self.model = value
        else:
            raise Refused(f"unknown config option {config_id!r}")

    def take(self, mode_id: Any, config_values: Any) -> None:
        """Take what ``initialize`` says was chosen; what is not declared is ignored."""
        if mode_id in MODES:
            self.mode = mode_id
        if isinstance(config_values, dict):
            for config_id, value in config_values.items():
                try:
                    self.set_option(config_id, value)
                except Refused:
                    continue

    def config_options(self) -> list[dict[str, Any]]:
        """The complete ACP option list with the current values: the model, then the mode."""
        model = {**_MODEL, "options": [dict(c) for c in _MODEL["options"]]}
        model["currentValue"] = self.model
        mode = {
            "type": "select",
            "id": MODE_OPTION_ID,
            "name": "Mode",
            "category": "mode",
            "currentValue": self.mode,
            "options": [
                {"value": m["id"], "name": m["name"], "description": m["description"]}
                for m in MANIFEST["modes"]["availableModes"]
            ],
        }
        return [model, mode]
