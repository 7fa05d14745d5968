"""How the translator repairs values VMs spell their own way: data, not code paths.

Each table maps a spelling a VM (Harn's, or another runtime's) uses to the value ACP
allows; a value in none of them is repaired to a default by the translator and counted
(``translation_repairs``).

Rule: nothing here but tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from acp_bridge.acp.updates import PlanEntryPriority, PlanEntryStatus, ToolCallStatus

#: A plan entry's status, by the names VMs use for it.
PLAN_STATUS: Final[dict[str, PlanEntryStatus]] = {
    "pending": "pending",
    "todo": "pending",
    "not_started": "pending",
    "blocked": "pending",
    "in_progress": "in_progress",
    "active": "in_progress",
    "running": "in_progress",
    "doing": "in_progress",
    "completed": "completed",
    "complete": "completed",
    "done": "completed",
    "skipped": "completed",
    "cancelled": "completed",
    "failed": "completed",
}
#: A plan entry's priority, by the names VMs use for it.
PLAN_PRIORITY: Final[dict[str, PlanEntryPriority]] = {
    "high": "high",
    "medium": "medium",
    "low": "low",
    "critical": "high",
    "urgent": "high",
    "normal": "medium",
}
#: A tool call's status, by the names VMs use for it besides ACP's own.
TOOL_STATUS_ALIASES: Final[dict[str, ToolCallStatus]] = {
    "running": "in_progress",
    "started": "in_progress",
    "success": "completed",
    "succeeded": "completed",
    "done": "completed",
    "ok": "completed",
    "error": "failed",
    "errored": "failed",
    "cancelled": "failed",
    "canceled": "failed",
    "rejected": "failed",
    "denied": "failed",
}
#: A plan step's priority given as a rank (Harn's plan documents allow an integer): 0 and 1
#: are the most urgent; a rank past the table is ``low``.
PLAN_PRIORITY_RANK: Final[dict[int, PlanEntryPriority]] = {0: "high", 1: "high", 2: "medium"}
#: Where a plan step's text is, by the names plans use for it, first match wins.
PLAN_STEP_TEXT_KEYS: Final = ("content", "step", "title", "description", "text")
