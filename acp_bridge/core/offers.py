"""Where a session stands as the editor's pickers, title and meter show it: the latest of each.

A VM keeps the editor's view of the session current with session-level events (its
commands, the mode, the option list, the title, the usage). :class:`SessionOffers` keeps
the latest of each, as the translator meets them live or in a replay, so that:

* a ``session/set_config_option`` answer and a ``load`` answer use the VM's option list;
* right after a ``session/new``, ``load`` or ``resume`` answer, :meth:`SessionOffers.state`
  says where the session stands, from the log (a reopened thread has its pickers, title and
  meter at once, before the VM says anything).

The declared modes and options, with the values chosen, are the session's
:class:`~acp_bridge.core.choices.Choices`, held here so that a VM's change and the editor's
go through one state.

Rule: nothing in this module performs I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from acp_bridge.acp.updates import JsonObject
    from acp_bridge.core.choices import Choices


@dataclass(slots=True)
class SessionOffers:
    """The latest session-level facts of one session.

    Attributes:
        choices: The declared modes and options with the values chosen (``None``: the
            translator knows of no declaration, e.g. a replay for the command line).
        commands: The VM's latest command list (``None``: it sent none; the declared ones
            hold).
        title: The VM's latest title (``None``: it set none).
        updated_at: The VM's latest ``updatedAt``.
        usage: The latest ``usage_update``.
        stale: Why logged choices were dropped on the way (a replay reports them).
    """

    choices: Choices | None = None
    commands: list[JsonObject] | None = None
    title: str | None = None
    updated_at: str | None = None
    usage: JsonObject | None = None
    stale: list[str] = field(default_factory=list)

    def restore(self, values: Any) -> None:
        """A logged ``acp_bridge.choices`` record: the values chosen then, checked."""
        if self.choices is None:
            return
        self.choices, dropped = self.choices.restored(values)
        self.stale += dropped

    def state(
        self, declared_commands: list[JsonObject], title: str | None, *, reopened: bool
    ) -> list[JsonObject]:
        """The session-level updates that tell an editor where the session stands.

        Args:
            declared_commands: The manifest's commands, when the VM sent none of its own.
            title: The session's title when the VM set none (its first prompt's).
            reopened: After a ``load`` or ``resume``: the mode and options are sent too
                (a ``session/new`` answer holds them already, as they are now).
        """
        updates: list[JsonObject] = []
        commands = declared_commands if self.commands is None else self.commands
        if commands or self.commands is not None:
            updates.append(
                {"sessionUpdate": "available_commands_update", "availableCommands": commands}
            )
        if reopened and self.choices is not None:
            options = self.choices.options()
            if options:
                updates.append({"sessionUpdate": "config_option_update", "configOptions": options})
            mode = self.choices.current_mode()
            if mode is not None:
                updates.append({"sessionUpdate": "current_mode_update", "currentModeId": mode})
        info: JsonObject = {}
        shown = self.title if self.title is not None else title
        if shown is not None:
            info["title"] = shown
        if self.updated_at is not None:
            info["updatedAt"] = self.updated_at
        if info:
            updates.append({"sessionUpdate": "session_info_update", **info})
        if self.usage is not None:
            updates.append(self.usage)
        return updates
