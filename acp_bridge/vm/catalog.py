"""The AgentEvent vocabulary as data: every ``type`` tag Harn has emitted, one entry each.

Besides Harn's, the bridge's own events of what a VM offers the editor (commands, mode,
options, session info, usage, notices, terminal output; ``since`` is ``bridge``): they
become standard ACP updates, and the session-level ones (:data:`SESSION_LEVEL`) are sent
outside turns too.

Each :class:`EventSpec` says, for one event type: its fields and their serde rules, the
older names it had (``aliases``), the Harn version it appeared in, and how it reaches ACP
(:class:`Acp`). The decoder (:mod:`acp_bridge.vm.events`), the translator
(:mod:`acp_bridge.core.translate`), the JSON Schema in ``protocol/vm/`` and the catalogue
table of ``protocol/vm/events.md`` are all driven from :data:`CATALOGUE`; adding a variant
is one entry here plus a line in the tests' fixtures, never a new code path. The module is
long because it is that data (one entry per type); it holds no logic beyond parsing the
field notation below.

Fields are written in a small notation, one token each, in Harn's declaration order:

* ``name:shape``: required (Harn writes it always; a non-``Option`` field);
* ``name:shape|null``: an ``Option`` Harn always writes, ``null`` when empty;
* ``name:shape?``: omitted when empty (``skip_serializing_if``), or added after the type
  first appeared (older lines lack it).

Shapes: ``str``, ``int``, ``num`` (integer or float), ``bool``, ``any`` (Harn's
``serde_json::Value``: any JSON, ``null`` included), ``obj`` (any JSON object), ``[str]``,
``[any]``. Nested Harn structs are ``any`` or ``obj`` here: the bridge forwards them as
they came and reads what it needs leniently, so a shape Harn emits is never refused.

Harn's tolerance is the decoder's: unknown keys are kept and ignored, ``null`` and an
omitted key are the same for every field that is not required, and a field of ``any``
shape may be missing.

Rule: nothing in this module performs I/O; it is data and the few functions that read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final


class Rule(Enum):
    """Harn's serde rule for one field."""

    #: Always written; the decoder requires it (unless its shape is ``any``).
    REQUIRED = "required"
    #: An ``Option`` always written, ``null`` when empty.
    NULLABLE = "null"
    #: Omitted when empty (or newer than the type): absent in older lines.
    OMITTED = "omitted"


SHAPES: Final = frozenset({"str", "int", "num", "bool", "any", "obj", "[str]", "[any]"})


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of an event: its wire name, its JSON shape and Harn's serde rule."""

    name: str
    shape: str
    rule: Rule

    @property
    def required(self) -> bool:
        """Whether a line without this field is refused (Harn could not have written it)."""
        return self.rule is Rule.REQUIRED and self.shape != "any"


class Acp(Enum):
    """Where an event goes in ACP."""

    #: ``agent_message_chunk`` / ``agent_thought_chunk`` with a text block.
    TEXT = "text"
    #: ACP ``tool_call`` (Harn's extras under ``_meta.harn``).
    TOOL_CALL = "tool_call"
    #: ACP ``tool_call_update`` (Harn's extras under ``_meta.harn``).
    TOOL_CALL_UPDATE = "tool_call_update"
    #: ACP ``plan`` from a plan value (any JSON).
    PLAN = "plan"
    #: ACP ``plan`` from a plan document's current revision; the document in ``_meta.harn``.
    PLAN_DOCUMENT = "plan_document"
    #: ACP ``plan`` when the event has entries, else Harn's ``progress`` update.
    PROGRESS = "progress"
    #: ACP ``user_message_chunk``, one per content block (not the echo of the prompt).
    USER_MESSAGE = "user_message"
    #: A Harn extension update: ``_harn/session_update`` (Harn mode: ``session/update``).
    SESSION_UPDATE = "session_update"
    #: Harn's extension notification ``_harn/agentEvent``.
    AGENT_EVENT = "agent_event"
    #: ACP ``available_commands_update`` (session-level).
    COMMANDS = "commands"
    #: ACP ``current_mode_update`` and ``config_option_update`` (session-level).
    MODE = "mode"
    #: ACP ``config_option_update``, the complete list (session-level).
    CONFIG_OPTIONS = "config_options"
    #: ACP ``session_info_update`` (session-level).
    SESSION_INFO = "session_info"
    #: ACP ``usage_update`` (session-level).
    USAGE = "usage"
    #: ACP ``notice`` for a client that takes notices (session-level), else a marked
    #: ``agent_message_chunk`` (part of a turn).
    NOTICE = "notice"
    #: A terminal the VM runs itself, shown on a tool call (``_meta.terminal_*`` or text).
    TERMINAL_OUTPUT = "terminal_output"
    #: Persisted, never forwarded.
    INTERNAL = "internal"

    @property
    def standard(self) -> bool:
        """Whether the event becomes a standard ACP update."""
        return self in _STANDARD

    @property
    def session_level(self) -> bool:
        """Whether the event tells of the session, not its thread: sent outside turns too.

        A notice is session-level only for a client that takes ACP's notices (the
        translator decides); the others always are.
        """
        return self in SESSION_LEVEL


#: The routes of session-level events: forwarded whenever the session's answer is out.
SESSION_LEVEL: Final = frozenset(
    {Acp.COMMANDS, Acp.MODE, Acp.CONFIG_OPTIONS, Acp.SESSION_INFO, Acp.USAGE}
)
_STANDARD: Final = frozenset(
    {
        Acp.TEXT,
        Acp.TOOL_CALL,
        Acp.TOOL_CALL_UPDATE,
        Acp.PLAN,
        Acp.PLAN_DOCUMENT,
        Acp.USER_MESSAGE,
        *SESSION_LEVEL,
        Acp.NOTICE,
        Acp.TERMINAL_OUTPUT,
    }
)


@dataclass(frozen=True, slots=True)
class StopRule:
    """How an event decides the turn's stop reason.

    Attributes:
        reason: The stop reason the event always asks for.
        path: Keys to follow into the event for a value to look up in ``table``.
        table: ``(value, stop reason)`` pairs; a value not listed asks for nothing.
    """

    reason: str | None = None
    path: tuple[str, ...] = ()
    table: tuple[tuple[str, str], ...] = ()

    def stop_reason(self, data: dict[str, object]) -> str | None:
        """The stop reason the event (as its JSON object) asks for, if any."""
        if self.reason is not None:
            return self.reason
        value: object = data
        for key in self.path:
            value = value.get(key) if isinstance(value, dict) else None
        return dict(self.table).get(value) if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One AgentEvent type.

    Attributes:
        type: The ``type`` tag.
        since: The Harn version it first appeared in (see ``protocol/vm/events.md``).
        fields: Its fields besides ``type`` and ``session_id``, in Harn's order.
        acp: Where it goes in ACP.
        doc: One line for VM authors.
        aliases: Older tags of the same event, decoded by the same model.
        name: The ``sessionUpdate`` / ``_harn/agentEvent`` ``kind`` when not ``type``.
        renames: For ``_harn/agentEvent``: payload keys Harn renames, ``(wire, sent)``.
        spread: For ``_harn/agentEvent``: the field whose object is the whole payload; for
            a Harn extension update: the field whose object's keys Harn lifts into
            ``_meta.harn`` beside the others (when it is an object).
        stop: How the event decides the stop reason, if it does.
        removed: The Harn version that stopped emitting it, if one did.
        model: The name of its hand-written model in :mod:`acp_bridge.vm.events`, when the
            translator reads it field by field (the fields here must match it).
        verbatim: For ``_harn/agentEvent``: the payload keys as the VM wrote them (Harn
            sends the event's own snake_case form), not camelCased.
        nest: For a Harn extension update: the ``_meta.harn`` key Harn puts the fields
            under, when it does not put them there directly.
    """

    type: str
    since: str
    fields: tuple[FieldSpec, ...]
    acp: Acp
    doc: str
    aliases: tuple[str, ...] = ()
    name: str | None = None
    renames: tuple[tuple[str, str], ...] = ()
    spread: str | None = None
    stop: StopRule | None = None
    removed: str | None = None
    model: str | None = None
    verbatim: bool = False
    nest: str | None = None

    @property
    def acp_name(self) -> str:
        """The name the event has in ACP (``sessionUpdate`` or ``kind``)."""
        return self.name or self.type

    @property
    def tags(self) -> tuple[str, ...]:
        """Every ``type`` tag decoded as this event."""
        return (self.type, *self.aliases)


def parse_fields(notation: str) -> tuple[FieldSpec, ...]:
    """Parse the field notation of the module docstring.

    Raises:
        ValueError: A token is malformed or names an unknown shape.
    """
    out: list[FieldSpec] = []
    for token in notation.split():
        name, sep, shape = token.partition(":")
        if not sep or not name:
            raise ValueError(f"field {token!r} has no shape")
        rule = Rule.REQUIRED
        if shape.endswith("|null"):
            shape, rule = shape.removesuffix("|null"), Rule.NULLABLE
        elif shape.endswith("?"):
            shape, rule = shape.removesuffix("?"), Rule.OMITTED
        if shape not in SHAPES:
            raise ValueError(f"field {token!r} has an unknown shape")
        out.append(FieldSpec(name, shape, rule))
    return tuple(out)


def _e(
    type_: str,
    since: str,
    fields: str,
    acp: Acp,
    doc: str,
    *,
    aliases: tuple[str, ...] = (),
    name: str | None = None,
    renames: tuple[tuple[str, str], ...] = (),
    spread: str | None = None,
    stop: StopRule | None = None,
    removed: str | None = None,
    model: str | None = None,
    verbatim: bool = False,
    nest: str | None = None,
) -> EventSpec:
    return EventSpec(
        type_,
        since,
        parse_fields(fields),
        acp,
        doc,
        aliases,
        name,
        renames,
        spread,
        stop,
        removed,
        model,
        verbatim,
        nest,
    )


A = Acp
_ENDS: Final = StopRule(reason="max_turn_requests")
#: Harn's terminal outcomes and the ACP stop reason each one is (unlisted: the VM decides).
TERMINAL_OUTCOMES: Final = (
    ("user_cancelled", "cancelled"),
    ("policy_budget", "max_turn_requests"),
    ("policy_no_progress", "max_turn_requests"),
    ("policy_thrash", "max_turn_requests"),
    ("policy_guardrail", "refusal"),
)
_JUDGE: Final = "iteration:int verdict:str reasoning:str next_step:str|null judge_duration_ms:int"
_CLASSIFIER: Final = "classifier_kind:str? model:str? error:str?"
_COMPOSITION: Final = "run:obj"
_LLM: Final = "payload:any"

#: Every AgentEvent type, in the newest Harn's declaration order, then the removed ones.
CATALOGUE: Final[tuple[EventSpec, ...]] = (
    _e(
        "agent_message_chunk",
        "0.7.50",
        "content:str",
        A.TEXT,
        "A piece of the agent's reply text.",
        model="AgentMessageChunk",
    ),
    _e(
        "agent_thought_chunk",
        "0.7.50",
        "content:str",
        A.TEXT,
        "A piece of the agent's reasoning text.",
        model="AgentThoughtChunk",
    ),
    _e(
        "user_message",
        "0.8.49",
        "message_id:str content:[any]",
        A.USER_MESSAGE,
        "A user's message as the VM took it (ACP content blocks).",
        model="UserMessage",
    ),
    _e(
        "tool_call",
        "0.7.50",
        "tool_call_id:str tool_name:str? kind:str|null status:str? raw_input:any parsing:bool? audit:any intent:str?",
        A.TOOL_CALL,
        "A tool call was requested (possibly still streaming its input).",
        model="ToolCall",
    ),
    _e(
        "tool_call_update",
        "0.7.50",
        "tool_call_id:str tool_name:str? status:str? raw_output:any error:str|null duration_ms:int? execution_duration_ms:int? error_category:str? mutation_status:str? changed_paths:[str]? data:any health:any executor:any parsing:bool? raw_input:any raw_input_partial:str? audit:any",
        A.TOOL_CALL_UPDATE,
        "Progress or the result of a tool call.",
        model="ToolCallUpdate",
    ),
    _e(
        "plan_document_updated",
        "0.10",
        "event:obj",
        A.PLAN_DOCUMENT,
        "A plan document was created or revised (replaces plan).",
    ),
    _e(
        "orchestration_decision",
        "0.10",
        "decision:any",
        A.AGENT_EVENT,
        "An orchestration decision.",
    ),
    _e(
        "progress_reported",
        "0.8.17",
        "message:str|null entries:any replace:bool? metadata:any",
        A.PROGRESS,
        "Progress, with plan entries or a message.",
    ),
    _e(
        "compass_routing_decision",
        "0.10",
        "tool_call_id:str mode:str action:str persona:any original_tool:any routed_tool:any target_tool:any path:str?",
        A.AGENT_EVENT,
        "A tool call was routed.",
    ),
    _e(
        "agent_scratchpad_reorganization",
        "0.10",
        "iteration:int status:str details:any",
        A.AGENT_EVENT,
        "The scratchpad was reorganised.",
    ),
    _e(
        "artifact",
        "0.10",
        "artifact_id:str kind:str title:str? mime_type:str spec:any fallback:str size_bytes:int provenance:any metadata:any",
        A.SESSION_UPDATE,
        "An artifact was produced.",
    ),
    _e(
        "iteration_start",
        "0.8.43",
        "iteration:int? provider:str? model:str?",
        A.AGENT_EVENT,
        "A model round-trip of the loop began.",
        aliases=("turn_start",),
    ),
    _e(
        "iteration_end",
        "0.8.43",
        "iteration:int? iteration_info:any turn_info:any",
        A.AGENT_EVENT,
        "A model round-trip of the loop ended.",
        aliases=("turn_end",),
    ),
    _e(
        "session_closed",
        "0.8.17",
        "reason:str status:str metadata:any",
        A.AGENT_EVENT,
        "The agent session closed.",
    ),
    _e(
        "anchor_changed",
        "0.8.49",
        "previous:any current:any carry_transcript:bool compacted:bool reason:str|null",
        A.AGENT_EVENT,
        "The conversation anchor moved.",
    ),
    _e("judge_started", "0.10", "iteration:int trigger:str?", A.AGENT_EVENT, "A judge started."),
    _e(
        "judge_decision",
        "0.8.17",
        f"{_JUDGE} source:str? trigger:str? reason:str? confirm:bool? converted_from:str? escalation_recommended:bool? escalation_target:str? judge_verdict:str? override:any gap_class:str? judge_outcome:str? terminal_evidence_preserved:bool?",
        A.AGENT_EVENT,
        "A judge decided on the loop's progress.",
    ),
    _e(
        "step_judge_decision",
        "0.9",
        "iteration:int verdict:str reasoning:str critique:str confidence:num judge_duration_ms:int vetoed:bool skipped:bool? reason:str? judge_error:bool? unavailable_reason:str? unavailable_count:int? on_veto:str input_tokens:int output_tokens:int cost_usd:num provider:str model:str",
        A.AGENT_EVENT,
        "A step judge's verdict.",
    ),
    _e(
        "structural_validator_decision",
        "0.9",
        "iteration:int rule:str diagnostic:str recommended_action:str vetoed:bool skipped:bool? reason:str? on_failure:str attempts:int max_attempts:int",
        A.AGENT_EVENT,
        "A structural validator's verdict.",
    ),
    _e(
        "scope_classifier_verdict",
        "0.9",
        f"iteration:int label:str original_label:str confidence:num confidence_threshold:num evidence:any skip_main_turn:bool {_CLASSIFIER}",
        A.AGENT_EVENT,
        "A scope classifier's verdict.",
    ),
    _e(
        "input_guardrail_verdict",
        "0.10",
        f"iteration:int tripwire:bool reason:str label:str confidence:num confidence_threshold:num {_CLASSIFIER}",
        A.AGENT_EVENT,
        "An input guardrail's verdict.",
    ),
    _e(
        "repair_output_contract_applied",
        "0.10",
        "iteration:int tool_count:int",
        A.AGENT_EVENT,
        "An output contract repair was applied.",
    ),
    _e(
        "missing_tool_call_verdict",
        "0.9",
        f"iteration:int action:str original_action:str tool_name:str confidence:num confidence_threshold:num evidence:any language:str? {_CLASSIFIER}",
        A.AGENT_EVENT,
        "A missing-tool-call classifier's verdict.",
    ),
    _e(
        "require_successful_tools_violation",
        "0.10",
        "kind:str source:str actor:str? run_id:str? redacted_summary:str recurrence_hints:[str] metadata:any",
        A.AGENT_EVENT,
        "A required tool did not succeed.",
    ),
    _e(
        "final_wrapup",
        "0.10",
        "final_status:str stop_reason:str iteration:int host_directive:bool terminal_kind:str unconsumed_tool_call:any",
        A.AGENT_EVENT,
        "The loop wrapped up.",
    ),
    _e(
        "pack_thinking_stripped",
        "0.10",
        "model:str requested:any reason:str",
        A.AGENT_EVENT,
        "Thinking was stripped for a model.",
    ),
    _e(
        "self_consistency_tie",
        "0.10",
        "answer:any total:int distribution:any",
        A.AGENT_EVENT,
        "Self-consistency voting tied.",
    ),
    _e(
        "code_librarian_query_nl_fallback",
        "0.10",
        "attempted_cypher:str? mcts_depth:int mcts_expansions:int result_count:int text:str",
        A.AGENT_EVENT,
        "A code query fell back to natural language.",
    ),
    _e(
        "typed_checkpoint",
        "0.8.17",
        "checkpoint:any",
        A.AGENT_EVENT,
        "A typed checkpoint of the loop.",
    ),
    _e("model_job", "0.10", "event:any", A.AGENT_EVENT, "A model job event."),
    _e(
        "feedback_injected",
        "0.7.50",
        "kind:str? content:str? streak:int? iteration:int? tool_name:str? turn_claimed_for_repair:bool? delivered:bool?",
        A.AGENT_EVENT,
        "Feedback was added to the model's context.",
        renames=(("kind", "feedbackKind"),),
    ),
    _e(
        "host_tool_result",
        "0.10",
        "injection_id:str tool_call_id:str tool_name:str kind:str? raw_input:any status:str raw_output:any result_pointer:any error:str? duration_ms:int? delivery:str delivered_at_seam:str? sequence:int provenance:any sanitization:any",
        A.AGENT_EVENT,
        "A host delivered a tool result.",
        renames=(("kind", "toolKind"),),
    ),
    _e(
        "host_attachment",
        "0.10",
        "injection_id:str media_type:str flavor:str artifact_pointer:any sha256:str size_bytes:int rendered:str description:str? description_model:str? delivery:str delivered_at_seam:str? sequence:int provenance:any sanitization:any",
        A.AGENT_EVENT,
        "A host attached media.",
    ),
    _e(
        "budget_exhausted",
        "0.7.50",
        "max_iterations:int? iteration:int? kind:str? cost_usd:num? wall_clock_ms:int? limit:str? limit_value:num? projected_cost_usd:num? session_cost_usd:num? projected_input_tokens:int? projected_output_tokens:int? projection_basis:str? headroom_usd:num? provider:str? model:str?",
        A.AGENT_EVENT,
        "A budget ran out; the turn ends.",
        renames=(("kind", "budgetKind"),),
        stop=_ENDS,
    ),
    _e(
        "budget_circuit_breaker",
        "0.9",
        "kind:str consecutive_count:int paused_for_ms:int",
        A.AGENT_EVENT,
        "A budget circuit breaker tripped; the turn ends.",
        renames=(("kind", "breakerKind"),),
        stop=_ENDS,
    ),
    _e(
        "loop_stuck",
        "0.7.50",
        "max_nudges:int? last_iteration:int? tail_excerpt:str?",
        A.AGENT_EVENT,
        "The loop is going round in circles; the turn ends.",
        stop=_ENDS,
    ),
    _e(
        "loop_stuck_signal",
        "0.10",
        "payload:any",
        A.AGENT_EVENT,
        "A signal that the loop may be stuck.",
        name="loop_stuck",
        spread="payload",
    ),
    _e(
        "reserved_terminal_verify",
        "0.10",
        "payload:any",
        A.AGENT_EVENT,
        "A reserved terminal verification step.",
        spread="payload",
    ),
    _e(
        "daemon_watchdog_tripped",
        "0.7.50",
        "attempts:int? elapsed_ms:int?",
        A.AGENT_EVENT,
        "A daemon's watchdog fired.",
    ),
    _e(
        "skill_activated",
        "0.7.50",
        "skill_name:str iteration:int? reason:str?",
        A.SESSION_UPDATE,
        "A skill became active.",
    ),
    _e(
        "skill_deactivated",
        "0.7.50",
        "skill_name:str iteration:int?",
        A.SESSION_UPDATE,
        "A skill stopped being active.",
    ),
    _e(
        "skill_scope_tools",
        "0.7.50",
        "skill_name:str allowed_tools:[str]?",
        A.SESSION_UPDATE,
        "A skill narrowed the tools the model may use.",
    ),
    _e(
        "skill_narrow",
        "0.9",
        "reason:str removed_tools:[str] remaining_tools:[str] policy:any removed_tool_details:any kept_tool_details:any",
        A.SESSION_UPDATE,
        "A skill removed tools.",
    ),
    _e(
        "stance_transition",
        "0.10",
        "phase:str escape_tool:str allowed_tools:[str]? justification:str? consent:str? reason:str?",
        A.SESSION_UPDATE,
        "The write stance changed.",
    ),
    _e(
        "tool_search_query",
        "0.7.50",
        "tool_use_id:str? name:str? query:any strategy:str? mode:str?",
        A.SESSION_UPDATE,
        "The model searched for tools.",
    ),
    _e(
        "tool_search_result",
        "0.7.50",
        "tool_use_id:str? promoted:[str]? strategy:str? mode:str?",
        A.SESSION_UPDATE,
        "Tools promoted by a tool search.",
    ),
    _e(
        "transcript_compacted",
        "0.7.50",
        "mode:str? strategy:str? archived_messages:int? estimated_tokens_before:int? estimated_tokens_after:int? snapshot_asset_id:str? receipt:any",
        A.SESSION_UPDATE,
        "Older messages were summarised to free context.",
        spread="receipt",
    ),
    _e(
        "transcript_projected",
        "0.9",
        "policy:str reason:str prefix_hash:str kept_count:int dropped_count:int provider_safety_blocked:bool redacted_count:int? reclaimed_tokens:int? roots_consulted:[any]? redaction_pointers:[any]?",
        A.SESSION_UPDATE,
        "The transcript was projected for a provider.",
    ),
    _e(
        "reminder_emitted",
        "0.9",
        "reminder_id:str tags:[str] body:str role_hint:str authority:str? rendered_role:str source:str ttl_turns:int|null",
        A.SESSION_UPDATE,
        "A reminder was added to the context.",
        nest="reminder",
    ),
    _e(
        "handoff",
        "0.7.50",
        "artifact_id:str? handoff:obj",
        A.SESSION_UPDATE,
        "Work was handed to another persona or to a human.",
    ),
    _e(
        "fs_watch",
        "0.7.50",
        "subscription_id:str? events:[any]",
        A.SESSION_UPDATE,
        "Files changed under a watch subscription.",
    ),
    _e(
        "staged_writes_pending",
        "0.9",
        "pending_count:int total_bytes:int pending_writes:[any]?",
        A.SESSION_UPDATE,
        "Writes are staged, not applied yet.",
        name="progress",
    ),
    _e(
        "safe_text_patch_result",
        "0.9",
        "path:str result:str hunks_count:int bytes_written:int failed_hunk_index:int?",
        A.SESSION_UPDATE,
        "A text patch was applied or refused.",
        name="progress",
    ),
    _e(
        "control_outcome",
        "0.9",
        "control_id:str method:str outcome:str status:str actor:any target:any reason:str? metadata:any",
        A.AGENT_EVENT,
        "A control request's outcome.",
    ),
    _e(
        "worker_update",
        "0.7.50",
        "worker_id:str worker_name:str? worker_task:str? worker_mode:str? event:str? status:str? metadata:any audit:any",
        A.SESSION_UPDATE,
        "A delegated worker changed state.",
    ),
    _e(
        "subagent_stop",
        "0.10",
        "lineage:any parent_run_id:str child_run_id:str terminal_status:str terminal_class:any reason:any result_ref:any receipt_ref:any cancellation:any timeout:any completed_at_ms:int",
        A.AGENT_EVENT,
        "A sub-agent stopped.",
    ),
    _e(
        "subagent_join",
        "0.10",
        "lineage:any worker_id:str completed_at_ms:int? joined_at_ms:int? wait_started_at_ms:int? result_processing_started_at_ms:int? result_processing_completed_at_ms:int?",
        A.AGENT_EVENT,
        "A sub-agent's result was joined.",
    ),
    _e(
        "hitl_requested",
        "0.8.17",
        "request_id:str kind:str payload:any",
        A.SESSION_UPDATE,
        "The agent waits for a human.",
        name="hitl_request",
    ),
    _e(
        "hitl_resolved",
        "0.8.17",
        "request_id:str kind:str outcome:str",
        A.SESSION_UPDATE,
        "A human answered (or did not).",
    ),
    _e(
        "loop_control_decision",
        "0.8.17",
        "iteration:int action:str old_limit:int|null new_limit:int|null reason:str status:str",
        A.AGENT_EVENT,
        "The loop's limits changed.",
    ),
    _e(
        "agent_loop_stall_warning",
        "0.8.17",
        "warning:any",
        A.AGENT_EVENT,
        "The loop may be stalling.",
        spread="warning",
    ),
    _e(
        "capability_gap",
        "0.9",
        "level:str capability:str provider:str model:str fallback_tool_format:str requested_tool_format:str? message:str resolution:str? reason:str?",
        A.AGENT_EVENT,
        "A provider lacks a capability.",
    ),
    _e(
        "tool_format_override",
        "0.9",
        "provider:str model:str requested_format:str recommended_format:str catalog_parity:any override_reason:str? applied_format:str? steered:bool?",
        A.AGENT_EVENT,
        "The tool format was overridden.",
    ),
    _e(
        "tool_call_audit",
        "0.8.17",
        "tool_call_id:str tool_name:str audit:any receipt:any",
        A.AGENT_EVENT,
        "The audit record of a tool call.",
    ),
    _e(
        "tool_batch_disposition",
        "0.10",
        "receipt:obj",
        A.AGENT_EVENT,
        "What became of one call of a tool batch.",
    ),
    _e(
        "purpose_label",
        "0.10",
        "label:str source:str iteration:int? tool_call_ids:[str]? tool_call_count:int?",
        A.AGENT_EVENT,
        "The purpose of a step.",
    ),
    _e(
        "cache_hit",
        "0.8.17",
        "key:str backend:str namespace:str payload:any",
        A.AGENT_EVENT,
        "A cache hit.",
        spread="payload",
    ),
    _e(
        "cache_miss",
        "0.8.17",
        "key:str backend:str namespace:str payload:any",
        A.AGENT_EVENT,
        "A cache miss.",
        spread="payload",
    ),
    _e(
        "llm_call_log",
        "0.10",
        f"model:str provider:str status:str latency_ms:int iteration:int attempt:int {_LLM}",
        A.AGENT_EVENT,
        "One model call.",
    ),
    _e(
        "llm_routing_decision",
        "0.10",
        f"route_index:int route_name:str used_default:bool {_LLM}",
        A.AGENT_EVENT,
        "A model route was chosen.",
    ),
    _e(
        "llm_fallback_attempt",
        "0.10",
        f"fallback_index:int fallback_total:int ok:bool status:str {_LLM}",
        A.AGENT_EVENT,
        "A fallback model was tried.",
    ),
    _e(
        "llm_shadow_diff",
        "0.10",
        f"primary_ok:bool shadow_ok:bool primary_status:str shadow_status:str primary_len:int shadow_len:int {_LLM}",
        A.AGENT_EVENT,
        "A shadow model's answer differed.",
    ),
    _e(
        "semantic_cache_hit",
        "0.10",
        f"similarity:num provider:str model:str {_LLM}",
        A.AGENT_EVENT,
        "A semantic cache hit.",
    ),
    _e(
        "semantic_cache_miss",
        "0.10",
        f"nearest_similarity:num|null {_LLM}",
        A.AGENT_EVENT,
        "A semantic cache miss.",
    ),
    _e("composition_start", "0.8.49", _COMPOSITION, A.AGENT_EVENT, "A composition run started."),
    _e(
        "composition_child_call",
        "0.8.49",
        _COMPOSITION,
        A.AGENT_EVENT,
        "A composition run called a child.",
    ),
    _e(
        "composition_child_result",
        "0.8.49",
        _COMPOSITION,
        A.AGENT_EVENT,
        "A composition child returned.",
    ),
    _e("composition_finish", "0.8.49", _COMPOSITION, A.AGENT_EVENT, "A composition run finished."),
    _e("composition_error", "0.8.49", _COMPOSITION, A.AGENT_EVENT, "A composition run failed."),
    _e(
        "loop_checkpoint",
        "0.9",
        "kind:str? iteration:int? inbox_delivered:int? typed_delivered:int? dispatch_skipped:bool?",
        A.AGENT_EVENT,
        "A checkpoint of the loop.",
        renames=(("kind", "checkpointKind"),),
    ),
    _e(
        "mcp_notification",
        "0.9",
        "server:str method:str direction:str params:any",
        A.AGENT_EVENT,
        "An MCP server notified the agent.",
    ),
    _e(
        "mcp_catalog_changed",
        "0.9",
        "server:str? reason:str",
        A.AGENT_EVENT,
        "An MCP server's catalogue changed.",
    ),
    _e(
        "mcp_auth_required",
        "0.9",
        "server:str resource:str scope:str?",
        A.AGENT_EVENT,
        "An MCP server needs authorisation.",
    ),
    _e(
        "boundary_failure",
        "0.10",
        "boundary:any kind:any owner:str detail:str excerpt:str? dropped_count:int? dropped_bytes:int? unreported:bool?",
        A.AGENT_EVENT,
        "A boundary failed.",
        renames=(("kind", "failureKind"),),
    ),
    _e(
        "turn_phase_changed",
        "0.10",
        "phase:str candidate_reply:str? reply:str? outcome:any",
        A.AGENT_EVENT,
        "The turn's phase; a terminal phase carries its outcome.",
        stop=StopRule(path=("outcome", "kind"), table=TERMINAL_OUTCOMES),
        verbatim=True,
    ),
    _e(
        "session_health",
        "0.10",
        "fact:obj",
        A.INTERNAL,
        "Health measurements of the session (Harn sends nothing).",
    ),
    # What a VM offers the editor: the bridge's own events (no Harn version emits them).
    _e(
        "available_commands",
        "bridge",
        "commands:[any]",
        A.COMMANDS,
        "The VM's slash commands, the complete list: name, description, input.hint.",
        model="AvailableCommands",
    ),
    _e(
        "mode_changed",
        "bridge",
        "mode_id:str",
        A.MODE,
        "The VM changed the session's mode (one of the declared modes).",
        model="ModeChanged",
    ),
    _e(
        "config_options",
        "bridge",
        "config_options:[any]",
        A.CONFIG_OPTIONS,
        "The session's config options, the complete list in ACP's shape.",
        model="ConfigOptions",
    ),
    _e(
        "session_info",
        "bridge",
        "title:str? updated_at:str?",
        A.SESSION_INFO,
        "The session's title (what session/list shows) and when it was last active.",
        model="SessionInfo",
    ),
    _e(
        "usage",
        "bridge",
        "used:int size:int cost:obj?",
        A.USAGE,
        "Tokens in context now, the context window, and the session's cost so far.",
        model="Usage",
    ),
    _e(
        "notice",
        "bridge",
        "severity:str title:str description:str?",
        A.NOTICE,
        "Something the user should know: info, warning or error.",
        model="Notice",
    ),
    _e(
        "terminal_output",
        "bridge",
        "tool_call_id:str terminal_id:str data:str? exit_code:int? signal:str? command:str? cwd:str?",
        A.TERMINAL_OUTPUT,
        "Output of a command the VM runs itself, shown on its tool call.",
        model="TerminalOutput",
    ),
    _e(
        "plan",
        "0.7.50",
        "plan:any",
        A.PLAN,
        "The agent's plan: any JSON (a plan artifact, a list of steps, ...).",
        removed="0.10",
        model="Plan",
    ),
)

#: The keys of Harn's log envelope; never part of an event, never forwarded.
ENVELOPE_KEYS: Final = frozenset({"index", "emitted_at_ms", "frame_depth", "execution_id"})

#: Every spec by each of its tags (aliases included).
BY_TAG: Final[dict[str, EventSpec]] = {tag: spec for spec in CATALOGUE for tag in spec.tags}


def spec_of(tag: str) -> EventSpec | None:
    """The spec of a ``type`` tag (an alias included), or ``None`` for an unknown tag."""
    return BY_TAG.get(tag)
