"""Real ACP clients against the agent: the TypeScript SDK, the Python SDK and acpx.

Each client driver (``ts_client.mjs``, ``py_client.py``, ``acpx_client.py``) runs as a
subprocess and launches the agent through ``tests/support/tools/tee_agent.py``, which records both
directions of the wire. The test then checks the driver's JSON summary (turns, stop reasons,
cancel latency, client-side errors) and every transcript with the strict ``TranscriptChecker``.

The agent is acp-bridge itself (``python -m acp_bridge --log-dir ...`` with its built-in example
agent, ``ACP_BRIDGE_EXAMPLE_PACE=0.3``). ``ACP_BRIDGE_INTEROP_AGENT=standin`` switches to
``standin_agent.py``, a small agent on the official Python SDK, to show the harness works on
its own. The Node clients need ``npm ci --prefix tests/interop``; without it these tests fail.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.editor import SESSION_LEVEL
from support.paths import TOOLS
from support.tools.transcripts import cancel_answer_delays, check_records, read_transcript

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
TEE = TOOLS / "tee_agent.py"
STANDIN = HERE / "standin_agent.py"
NODE_MODULES = HERE / "node_modules"
NPM_CI = "npm ci --prefix tests/interop"
AGENT_ENV = "ACP_BRIDGE_INTEROP_AGENT"
PACE_ENV = "ACP_BRIDGE_EXAMPLE_PACE"
CANCEL_BUDGET_MS = 500.0
#: seconds a driver may take in all; each driver has its own, shorter, internal deadline
DRIVER_TIMEOUT = 90.0


@dataclass(frozen=True)
class AgentUnderTest:
    """The agent command the drivers launch (wrapped in tee_agent), and where transcripts go."""

    name: str
    command: list[str]
    transcripts: Path
    env: dict[str, str]

    def transcript_files(self) -> list[Path]:
        return sorted(self.transcripts.glob("*.jsonl"))


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """The session's cwd: a small project with a README for the agent's read tool."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "README.md").write_text("# Interop workspace\n\nA file for the agent to read.\n")
    (work / "notes.txt").write_text("one\ntwo\nthree\n")
    return work


@pytest.fixture
def agent(tmp_path: Path) -> AgentUnderTest:
    """acp-bridge by default; the stand-in agent with ``ACP_BRIDGE_INTEROP_AGENT=standin``."""
    return agent_under_test(os.environ.get(AGENT_ENV, "bridge"), tmp_path)


@pytest.fixture
def bridge(tmp_path: Path) -> AgentUnderTest:
    """acp-bridge with its example VM, whatever ``ACP_BRIDGE_INTEROP_AGENT`` says.

    The editor-powers scenarios need an agent that asks for them; the stand-in does not.
    """
    return agent_under_test("bridge", tmp_path)


def agent_under_test(choice: str, tmp_path: Path) -> AgentUnderTest:
    if choice == "bridge":
        inner = [sys.executable, "-m", "acp_bridge", "--log-dir", str(tmp_path / "logs")]
    elif choice == "standin":
        inner = [sys.executable, str(STANDIN), "--state-dir", str(tmp_path / "standin-state")]
    else:
        pytest.fail(f"{AGENT_ENV}={choice!r}: expected 'bridge' (the default) or 'standin'")
    transcripts = tmp_path / "transcripts"
    transcripts.mkdir()
    pattern = str(transcripts / "{pid}.jsonl")
    env = dict(os.environ)
    env[PACE_ENV] = "0.3"
    return AgentUnderTest(
        name=choice,
        command=[sys.executable, str(TEE), pattern, "--", *inner],
        transcripts=transcripts,
        env=env,
    )


def require_node_modules() -> None:
    """Fail (never skip) when the pinned npm packages are not installed."""
    missing = [
        path
        for path in (
            NODE_MODULES / "@agentclientprotocol" / "sdk" / "package.json",
            NODE_MODULES / "acpx" / "package.json",
            NODE_MODULES / ".bin" / "acpx",
        )
        if not path.exists()
    ]
    if missing:
        pytest.fail(
            f"the Node interop clients are not installed ({missing[0]} is missing): "
            f"run `{NPM_CI}` from the repository root",
            pytrace=False,
        )
    if shutil.which("node") is None:
        pytest.fail("`node` is not on PATH: the interop tests need Node.js 20+", pytrace=False)


def run_driver(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run one driver to the end (its process group dies on timeout); return its summary."""
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=DRIVER_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"driver timed out after {DRIVER_TIMEOUT} s: {argv}\nstderr:\n{err[-4000:]}")
    lines = out.strip().splitlines()
    if not lines:
        pytest.fail(f"driver printed no summary (exit {proc.returncode})\nstderr:\n{err[-4000:]}")
    try:
        summary = json.loads(lines[-1])
    except ValueError:
        pytest.fail(f"driver's last stdout line is not JSON: {lines[-1][:500]!r}\n{err[-4000:]}")
    assert isinstance(summary, dict)
    summary["_exit"] = proc.returncode
    summary["_stderr_tail"] = err[-4000:]
    return summary


def describe(summary: dict[str, Any]) -> str:
    shown = {k: v for k, v in summary.items() if k != "_stderr_tail"}
    return (
        json.dumps(shown, indent=1)[:6000]
        + "\n--- driver stderr (tail) ---\n"
        + str(summary.get("_stderr_tail", ""))
    )


def check_transcripts(agent: AgentUnderTest, expected: int | None) -> list[float | None]:
    """Every transcript must be clean; return the agent-side cancel delays found in them."""
    files = agent.transcript_files()
    assert files, f"no transcript in {agent.transcripts}: did the client start the agent?"
    if expected is not None:
        assert len(files) == expected, f"expected {expected} agent process(es), got {files}"
    delays: list[float | None] = []
    for path in files:
        records = read_transcript(path)
        problems = check_records(records)
        assert problems == [], f"{path}:\n" + "\n".join(problems[:50])
        delays += cancel_answer_delays(records)
    return delays


def assert_completed(turn: dict[str, Any], summary: dict[str, Any]) -> None:
    assert turn["stopReason"] == "end_turn", describe(summary)
    assert turn["updates"].get("agent_message_chunk", 0) >= 1, describe(summary)


def assert_three_turns(
    summary: dict[str, Any], agent: AgentUnderTest, processes: int | None
) -> None:
    """hello -> end_turn; tell me more -> cancelled within budget; again -> end_turn; clean."""
    assert summary["errors"] == [], describe(summary)
    assert summary["_exit"] == 0, describe(summary)
    assert summary["initialize"]["protocolVersion"] == 1, describe(summary)
    assert isinstance(summary["sessionId"], str), describe(summary)
    turns = summary["turns"]
    assert [t["prompt"] for t in turns] == ["hello", "tell me more", "again"], describe(summary)
    assert_completed(turns[0], summary)
    assert_completed(turns[2], summary)
    cancelled = turns[1]
    assert cancelled["stopReason"] == "cancelled", describe(summary)
    assert cancelled["answeredAfterCancelMs"] is not None, describe(summary)
    assert cancelled["answeredAfterCancelMs"] <= CANCEL_BUDGET_MS, describe(summary)
    delays = check_transcripts(agent, processes)
    assert len(delays) == 1, f"expected one session/cancel on the wire, got delays {delays}"
    assert delays[0] is not None, "the prompt in flight at the cancel was never answered"
    assert delays[0] <= CANCEL_BUDGET_MS, f"agent-side cancel latency {delays[0]} ms"


#: The example VM's slash commands and option ids (its manifest.json).
EXAMPLE_COMMANDS = ["help", "files", "run", "notes", "mode"]


def assert_usage(offers: dict[str, Any], summary: dict[str, Any]) -> None:
    """A ``usage_update`` came, with the example VM's figures."""
    usage = offers["usage"]
    assert usage is not None, describe(summary)
    assert 0 < usage["used"] < usage["size"] == 200_000, describe(summary)
    assert usage["cost"]["currency"] == "USD", describe(summary)


#: The option each driver sets after its turns, and the complete list it must get back.
SET_MODEL = ("model", "brief", [("model", "brief"), ("mode", "ask")])
SET_MODE = ("mode", "auto", [("model", "thorough"), ("mode", "auto")])  # acpx: `acpx set`


def assert_offers(
    summary: dict[str, Any],
    agent: AgentUnderTest,
    *,
    title: str = "hello",
    set_option: tuple[str, str, list[tuple[str, str]]] | None,
) -> None:
    """What the example VM offers, as the client saw it (nothing to check with the stand-in).

    The session/new answer holds the model and mode options, the commands follow it, the
    first prompt brings the session's title and its usage, and a
    ``session/set_config_option`` answer holds the complete list with the new value.
    """
    if agent.name != "bridge":
        return
    offers = summary["offers"]
    options = offers["configOptions"]
    assert options is not None, describe(summary)
    assert [(o["id"], o["category"], o["currentValue"]) for o in options] == [
        ("model", "model", "thorough"),
        ("mode", "mode", "ask"),
    ], describe(summary)
    assert offers["modes"] == ["ask", "auto"], describe(summary)
    assert EXAMPLE_COMMANDS in offers["commands"], describe(summary)
    assert offers["titles"], describe(summary)
    assert offers["titles"][-1] == title, describe(summary)
    assert_usage(offers, summary)
    if set_option is not None:
        config_id, value, complete = set_option
        changed = offers["setConfigOption"]
        assert changed is not None, describe(summary)
        assert (changed["configId"], changed["value"]) == (config_id, value), describe(summary)
        answered = [(o["id"], o["currentValue"]) for o in changed["configOptions"]]
        assert answered == complete, describe(summary)


def assert_offers_again_after_load(loaded: dict[str, Any], agent: AgentUnderTest) -> None:
    """After a load by a new bridge the commands and the title (and usage) come again."""
    if agent.name != "bridge":
        return
    offers = loaded["offers"]
    assert EXAMPLE_COMMANDS in offers["commands"], describe(loaded)
    assert "hello" in offers["titles"], describe(loaded)
    assert_usage(offers, loaded)


def test_typescript_sdk_client(agent: AgentUnderTest, workspace: Path) -> None:
    require_node_modules()
    node = shutil.which("node") or "node"
    summary = run_driver(
        [node, str(HERE / "ts_client.mjs"), "--cwd", str(workspace), "--", *agent.command],
        agent.env,
    )
    assert summary["client"]["version"] == "2.4.0"
    assert_three_turns(summary, agent, processes=1)
    assert summary["agentExit"]["code"] == 0, describe(summary)
    assert_offers(summary, agent, set_option=SET_MODEL)


#: Updates about the session rather than its thread: sent again after a load's answer
#: (which may arrive before or after the client reads it), never in the replayed history.


def replay_of(live: dict[str, Any]) -> dict[str, int]:
    """The updates a load of ``live``'s session must replay: its prompts, then all it saw."""
    expected: dict[str, int] = {"user_message_chunk": len(live["turns"])}
    for turn in live["turns"]:
        for kind, count in turn["updates"].items():
            if kind not in SESSION_LEVEL:
                expected[kind] = expected.get(kind, 0) + count
    return expected


def thread(updates: dict[str, int]) -> dict[str, int]:
    """Counts of updates by kind, without the session-level ones."""
    return {kind: count for kind, count in updates.items() if kind not in SESSION_LEVEL}


def test_typescript_sdk_load_session_reopens_the_thread(
    agent: AgentUnderTest, workspace: Path
) -> None:
    """A second agent process reloads the first one's thread through session/load."""
    require_node_modules()
    node = shutil.which("node") or "node"
    script = str(HERE / "ts_client.mjs")
    live = run_driver([node, script, "--cwd", str(workspace), "--", *agent.command], agent.env)
    assert_three_turns(live, agent, processes=1)
    assert live["initialize"]["agentCapabilities"]["loadSession"] is True, describe(live)
    sid = live["sessionId"]
    loaded = run_driver(
        [node, script, "--cwd", str(workspace), "--load", sid, "--", *agent.command], agent.env
    )
    assert loaded["errors"] == [], describe(loaded)
    expected = replay_of(live)
    assert thread(loaded["load"]["updates"]) == expected, describe(loaded)
    assert loaded["afterLoad"]["stopReason"] == "end_turn", describe(loaded)
    assert loaded["afterLoad"]["updates"].get("agent_message_chunk", 0) >= 1, describe(loaded)
    check_transcripts(agent, expected=2)
    assert_offers_again_after_load(loaded, agent)


def test_python_sdk_load_session_reopens_the_thread(agent: AgentUnderTest, workspace: Path) -> None:
    """The official Python SDK reopens a thread recorded by another bridge process."""
    script = str(HERE / "py_client.py")
    live = run_driver(
        [sys.executable, script, "--cwd", str(workspace), "--", *agent.command], agent.env
    )
    assert_three_turns(live, agent, processes=1)
    loaded = run_driver(
        [
            sys.executable,
            script,
            "--cwd",
            str(workspace),
            "--load",
            live["sessionId"],
            "--",
            *agent.command,
        ],
        agent.env,
    )
    assert loaded["errors"] == [], describe(loaded)
    expected = replay_of(live)
    assert thread(loaded["load"]["updates"]) == expected, describe(loaded)
    assert loaded["afterLoad"]["stopReason"] == "end_turn", describe(loaded)
    check_transcripts(agent, expected=2)
    assert_offers_again_after_load(loaded, agent)


def test_python_sdk_client(agent: AgentUnderTest, workspace: Path) -> None:
    summary = run_driver(
        [sys.executable, str(HERE / "py_client.py"), "--cwd", str(workspace), "--", *agent.command],
        agent.env,
    )
    assert summary["client"]["version"] == "0.12.1"
    assert_three_turns(summary, agent, processes=1)
    assert summary["agentExit"]["code"] == 0, describe(summary)
    assert_offers(summary, agent, set_option=SET_MODEL)


def acpx_driver(mode: str, workspace: Path, agent: AgentUnderTest) -> list[str]:
    driver = str(HERE / "acpx_client.py")
    return [sys.executable, driver, "--mode", mode, "--cwd", str(workspace), "--", *agent.command]


def test_acpx_exec(agent: AgentUnderTest, workspace: Path) -> None:
    require_node_modules()
    summary = run_driver(
        acpx_driver("exec", workspace, agent),
        agent.env,
    )
    assert summary["errors"] == [], describe(summary)
    assert summary["_exit"] == 0, describe(summary)
    assert summary["initialize"]["protocolVersion"] == 1, describe(summary)
    [turn] = summary["turns"]
    assert_completed(turn, summary)
    check_transcripts(agent, expected=1)
    assert_offers(summary, agent, set_option=None)


def test_acpx_persistent_session(agent: AgentUnderTest, workspace: Path) -> None:
    """``sessions new`` / ``prompt`` / ``cancel`` / ``prompt`` / ``sessions close``.

    acpx starts a fresh agent for ``sessions new`` and another one (held by its detached queue
    owner) for the prompts. That one reconnects with ``session/resume`` when the agent offers
    it, else ``session/load`` when it advertises ``loadSession``, else silently makes a new
    session; the later prompts reuse its connection. ``acpx cancel`` is a separate
    Node process that needs ~0.5 s to reach the agent, so this test runs the example agent at
    full pace (turns of 2-4 s) to make sure the cancel lands inside the turn.
    """
    require_node_modules()
    env = {**agent.env, PACE_ENV: "1"}
    summary = run_driver(
        acpx_driver("session", workspace, agent),
        env,
    )
    assert_three_turns(summary, agent, processes=2)
    caps = summary["initialize"].get("agentCapabilities", {})
    expected = reconnect_method(caps)
    prompts_stream = summary["streams"][1]
    assert prompts_stream[:2] == ["initialize", expected], describe(summary)
    assert summary["streams"][3][:1] == ["session/prompt"], "the 3rd prompt reused the connection"
    [record] = summary["acpx"]["records"]
    if expected != "session/new":  # the agent restored the session that `sessions new` made
        assert record["acp_session_id"] == record["acpx_record_id"], describe(summary)
    assert_offers(summary, agent, set_option=SET_MODE)  # `acpx set mode auto` after the prompts


def reconnect_method(agent_capabilities: dict[str, Any]) -> str:
    """What acpx 0.19.1 sends when a new agent process takes over a saved session."""
    if (agent_capabilities.get("sessionCapabilities") or {}).get("resume") is not None:
        return "session/resume"
    if agent_capabilities.get("loadSession"):
        return "session/load"
    return "session/new"


# --------------------------------------------------------------------------- the editor's powers

#: Asks the example VM to run a command and to write its notes file.
POWERS_PROMPT = "Run `echo from-the-terminal` and write notes, please."
NOTES = "acp-bridge-notes.md"
ALL_KINDS = ["allow_once", "allow_always", "reject_once", "reject_always"]


def ts_powers(
    bridge: AgentUnderTest, workspace: Path, *args: str, prompts: int = 1
) -> dict[str, Any]:
    """The TypeScript SDK client's --powers scenario against the bridge, at a quick pace."""
    require_node_modules()
    node = shutil.which("node") or "node"
    argv = [node, str(HERE / "ts_client.mjs"), "--cwd", str(workspace)]
    argv += [arg for _ in range(prompts) for arg in ("--powers", POWERS_PROMPT)]
    summary = run_driver([*argv, *args, "--", *bridge.command], {**bridge.env, PACE_ENV: "0.05"})
    assert summary["errors"] == [], describe(summary)
    assert summary["_exit"] == 0, describe(summary)
    check_transcripts(bridge, expected=1)
    return summary


def tools_by_title(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {tool["title"].split()[0]: tool for tool in summary["tools"].values()}


def test_typescript_sdk_allows_and_the_vm_edits_through_the_editor(
    bridge: AgentUnderTest, workspace: Path
) -> None:
    summary = ts_powers(bridge, workspace, "--permission", "allow")
    [turn] = summary["turns"]
    assert turn["stopReason"] == "end_turn", describe(summary)
    asked = summary["permissions"]
    assert [(p["kind"], p["optionKinds"]) for p in asked] == [
        ("execute", ALL_KINDS),
        ("edit", ALL_KINDS),
    ], describe(summary)
    assert asked[1]["content"] == ["diff"], "the user sees the diff when asked"
    requests = summary["agentRequests"]
    assert requests["fs/write_text_file"] == 1, describe(summary)
    assert requests["terminal/create"] == requests["terminal/release"] == 1, describe(summary)
    assert summary["terminals"] == [
        {"command": ["echo", "from-the-terminal"], "cwd": str(workspace)}
    ], describe(summary)
    tools = tools_by_title(summary)
    assert (tools["Run"]["status"], tools["Run"]["content"]) == ("completed", ["terminal"])
    assert (tools["Edit"]["status"], tools["Edit"]["content"]) == ("completed", ["diff"])
    notes = (workspace / NOTES).read_text()
    assert "from-the-terminal" in notes
    assert "Interop workspace" in notes  # the README, read through fs/read_text_file


def test_typescript_sdk_rejects_and_nothing_is_run_or_written(
    bridge: AgentUnderTest, workspace: Path
) -> None:
    summary = ts_powers(bridge, workspace, "--permission", "reject")
    [turn] = summary["turns"]
    assert turn["stopReason"] == "end_turn", describe(summary)
    assert len(summary["permissions"]) == 2, describe(summary)
    requests = summary["agentRequests"]
    assert "fs/write_text_file" not in requests, describe(summary)
    assert "terminal/create" not in requests, describe(summary)
    tools = tools_by_title(summary)
    assert tools["Run"]["status"] == tools["Edit"]["status"] == "failed", describe(summary)
    assert not (workspace / NOTES).exists()


def test_typescript_sdk_cancels_while_the_permission_prompt_is_open(
    bridge: AgentUnderTest, workspace: Path
) -> None:
    summary = ts_powers(bridge, workspace, "--permission", "cancel")
    [turn] = summary["turns"]
    assert turn["stopReason"] == "cancelled", describe(summary)
    assert len(summary["permissions"]) == 1, describe(summary)
    assert set(summary["agentRequests"]) <= {"fs/read_text_file", "session/request_permission"}
    assert tools_by_title(summary)["Run"]["status"] == "failed", describe(summary)
    assert not (workspace / NOTES).exists()


def test_typescript_sdk_always_allow_is_remembered_for_the_session(
    bridge: AgentUnderTest, workspace: Path
) -> None:
    summary = ts_powers(bridge, workspace, "--permission", "always", prompts=2)
    assert [t["stopReason"] for t in summary["turns"]] == ["end_turn"] * 2, describe(summary)
    # Two tools asked about once each; the second turn's questions the bridge answered itself.
    assert len(summary["permissions"]) == 2, describe(summary)
    assert summary["agentRequests"]["terminal/create"] == 2, describe(summary)
    assert summary["agentRequests"]["fs/write_text_file"] == 2, describe(summary)


def test_typescript_sdk_without_fs_or_terminal_the_vm_does_it_itself(
    bridge: AgentUnderTest, workspace: Path
) -> None:
    summary = ts_powers(bridge, workspace, "--permission", "allow", "--caps", "none")
    [turn] = summary["turns"]
    assert turn["stopReason"] == "end_turn", describe(summary)
    assert set(summary["agentRequests"]) == {"session/request_permission"}, describe(summary)
    tools = tools_by_title(summary)
    assert (tools["Run"]["status"], tools["Run"]["content"]) == ("completed", ["content"])
    assert (tools["Edit"]["status"], tools["Edit"]["content"]) == ("completed", ["diff"])
    assert "from-the-terminal" in (workspace / NOTES).read_text()


@pytest.mark.parametrize("permissions", ["approve-all", "deny-all"])
def test_acpx_approve_all_and_deny_all(
    bridge: AgentUnderTest, workspace: Path, permissions: str
) -> None:
    require_node_modules()
    argv = acpx_driver("exec", workspace, bridge)
    argv[argv.index("--") : argv.index("--")] = ["--prompt", POWERS_PROMPT]
    argv[argv.index("--") : argv.index("--")] = ["--permissions", permissions]
    summary = run_driver(argv, {**bridge.env, PACE_ENV: "0.05"})
    assert summary["errors"] == [], describe(summary)
    assert summary["_exit"] == 0, describe(summary)
    [turn] = summary["turns"]
    assert turn["stopReason"] == "end_turn", describe(summary)
    chosen = [a["outcome"].get("optionId") for a in summary["permissionAnswers"]]
    tools = tools_by_title(summary)
    requests = summary["agentRequests"]
    if permissions == "approve-all":
        assert chosen == ["allow_once", "allow_once"], describe(summary)
        assert requests["terminal/create"] == requests["fs/write_text_file"] == 1
        assert (tools["Run"]["status"], tools["Run"]["content"]) == ("completed", ["terminal"])
        assert (tools["Edit"]["status"], tools["Edit"]["content"]) == ("completed", ["diff"])
        assert "from-the-terminal" in (workspace / NOTES).read_text()
    else:
        assert chosen == ["reject_once", "reject_once"], describe(summary)
        assert "terminal/create" not in requests, describe(summary)
        assert "fs/write_text_file" not in requests, describe(summary)
        assert tools["Run"]["status"] == tools["Edit"]["status"] == "failed"
        assert not (workspace / NOTES).exists()
    check_transcripts(bridge, expected=1)


@pytest.mark.parametrize("permission", ["allow", "reject"])
def test_python_sdk_answers_the_editor_powers(
    bridge: AgentUnderTest, workspace: Path, permission: str
) -> None:
    argv = [sys.executable, str(HERE / "py_client.py"), "--cwd", str(workspace)]
    argv += ["--powers", POWERS_PROMPT, "--permission", permission, "--", *bridge.command]
    summary = run_driver(argv, {**bridge.env, PACE_ENV: "0.05"})
    assert summary["errors"] == [], describe(summary)
    assert summary["_exit"] == 0, describe(summary)
    [turn] = summary["turns"]
    assert turn["stopReason"] == "end_turn", describe(summary)
    assert [(p["kind"], p["optionKinds"]) for p in summary["permissions"]] == [
        ("execute", ALL_KINDS),
        ("edit", ALL_KINDS),
    ], describe(summary)
    tools = tools_by_title(summary)
    requests = summary["agentRequests"]
    if permission == "allow":
        assert summary["terminals"] == [["echo", "from-the-terminal"]], describe(summary)
        assert requests["fs/write_text_file"] == 1, describe(summary)
        assert (tools["Run"]["status"], tools["Run"]["content"]) == ("completed", ["terminal"])
        assert (tools["Edit"]["status"], tools["Edit"]["content"]) == ("completed", ["diff"])
        assert "from-the-terminal" in (workspace / NOTES).read_text()
    else:
        assert summary["terminals"] == [], describe(summary)
        assert "fs/write_text_file" not in requests, describe(summary)
        assert tools["Run"]["status"] == tools["Edit"]["status"] == "failed"
        assert not (workspace / NOTES).exists()
    check_transcripts(bridge, expected=1)
