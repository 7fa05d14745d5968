"""The built-in example agent VM: a session-mode VM that acts out a realistic turn.

acp-bridge runs it when no VM is configured (``acp-bridge example-vm``). It speaks the
session mode of ``protocol/vm/modes.md``: newline-delimited JSON-RPC 2.0 on its own
stdin and stdout. It has no model behind it; each ``session/prompt`` plays one scripted
turn at a human pace, streamed as ``session/event`` notifications:

1. ``turn_start``;
2. an ``agent_thought_chunk`` streamed in pieces, then a "thinking" pause;
3. a ``plan`` of three steps (four or five when asked to run or write, see below);
4. a ``tool_call`` ``read_file`` (kind ``read``) of a real file under the session's
   ``cwd`` (its README, else the first small text file a bounded scan finds), then
   ``tool_call_update`` ``in_progress`` and ``completed`` with the first lines of the file
   (or ``failed`` when there is no such file or it cannot be read). The file is read
   through the editor (``fs/read_text_file``: its buffer, saved or not) when the editor
   offers that, else from disk; an editor that offers reads and refuses this one fails
   the call with its message (nothing is read from disk then);
4a. when the prompt asks to *run* something (a command in backticks, else ``ls -la``): a
   ``run_command`` tool call (kind ``execute``); the user is asked
   (``session/request_permission``); if allowed the command runs in an editor terminal
   (``terminal/create``, ``wait_for_exit``, ``output``, ``release``), whose id the tool
   call's output names so that the editor shows the terminal, or, when the editor offers
   none, here (its output streamed as ``terminal_output`` events, and kept as text in the
   tool call's output). Rejected: the call fails, nothing runs;
4b. when the prompt asks to *write*, *save* or take *notes*: a ``write_file`` tool call
   (kind ``edit``) whose input is the diff of ``acp-bridge-notes.md`` in ``cwd``; the user
   is asked, with the diff; if allowed the file is written through the editor
   (``fs/write_text_file``) or, when the editor does not offer that, to disk. Rejected:
   the call fails, nothing is written;
5. a second ``agent_thought_chunk`` about the result, then another pause;
6. the ``plan`` again (reading done, answering in progress);
7. ``agent_message_chunk`` events, a few words each, that echo the request and summarise
   the file;
8. the ``plan`` with every step completed, ``usage`` (a plausible token count of the
   context, out of 200 000, and the session's cost so far), ``session_info`` (the title,
   from the first prompt, after the first turn; then just ``updated_at``), and ``turn_end``.

What it offers the editor is in its manifest (``manifest.json``, ``protocol/vm/manifest.md``;
:mod:`.offers`): two modes, ``ask`` (asks before running a command or writing a file) and
``auto`` (does neither, and says what it did without asking in an ``info`` ``notice``);
a ``model`` option, ``thorough`` or ``brief`` (one short line per point); and slash
commands: ``/help`` (the commands, modes and models, and ``available_commands`` again),
``/files`` (runs ``ls -la`` itself, even when the editor has terminals, its output streamed
as ``terminal_output`` events on the tool call), ``/run CMD``, ``/notes TEXT`` and
``/mode ask|auto`` (switches from the VM's side: ``mode_changed`` and the complete
``config_options``). An unknown command is answered with a ``warning`` ``notice``. The
chosen mode and model come in ``initialize`` (``modeId``, ``configValues``) and by
``session/set_mode`` and ``session/set_config_option``, answered ``{}``.

The prompt is then answered ``{"stopReason": "end_turn"}``. ``session/cancel`` stops the
turn at once: any open tool call is failed with ``"cancelled"`` and the prompt is answered
``cancelled`` (a permission request open at that moment is answered ``cancelled`` by the
bridge; a command running in an editor terminal is killed and its terminal released).
Closing stdin ends the process (status 0), even in the middle of a turn.

The pace is scaled by ``ACP_BRIDGE_EXAMPLE_PACE`` (a float multiplier; ``0`` never sleeps).

The modules, from the outside in:

- :mod:`.program`: the command line and the main loop that answers the bridge's requests;
- :mod:`.wire`: the JSON-RPC link to the bridge (stdout writer, stdin reader thread, the
  VM's own requests to the editor);
- :mod:`.script`: the scripted turn, step by step;
- :mod:`.tools`: its three tool calls (read a file, run a command, write notes);
- :mod:`.turn`: what a turn can do: send events, pause, ask the editor, keep a tool call open;
- :mod:`.request`: what a prompt asks for (slash commands included), and what the editor
  offers;
- :mod:`.offers`: the modes, model and commands of the manifest, and the session's choices;
- :mod:`.workspace`: finding and reading the project's file;
- :mod:`.prose`: every sentence the agent says or writes.

Rule: this is a separate program that happens to ship inside the package. It imports only
what any VM author could import: :data:`acp_bridge.__version__`, the JSON-RPC envelopes of
:mod:`acp_bridge.jsonrpc.messages` and the line framing of :mod:`acp_bridge.jsonrpc.framing`,
besides the standard library and orjson (which also keeps its start fast). Nothing of the
bridge imports it but the CLI. Both are import-linter contracts. Its stdout carries the
protocol only, written by :class:`.wire.Wire`; diagnostics go to stderr.
"""

from acp_bridge.example_vm.program import main

__all__ = ["main"]
