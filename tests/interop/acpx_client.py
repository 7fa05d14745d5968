"""Interop driver: the ``acpx`` 0.19.1 CLI (a headless ACP client) against any agent command.

Usage::

    python tests/interop/acpx_client.py --cwd DIR [--mode exec|session] [--timeout 60]
        [--home DIR] [--acpx PATH] -- CMD [ARGS...]

acpx runs with ``HOME``, ``TMPDIR`` and the ``XDG_*`` directories inside a private home
(``--home``, else a fresh temporary directory that is removed afterwards), so it never touches
the real ``~/.acpx``. Every acpx call is ``acpx --approve-all --format json --cwd DIR --agent
'CMD ARGS...' ...``; ``--format json`` makes acpx print the raw ACP traffic of both directions as
NDJSON on stdout, which this driver parses.

``--mode exec`` (default): one ``acpx ... exec PROMPT`` (a fresh agent process, session/new,
one prompt, no saved state); ``--prompt`` (default ``hello``). ``--permissions deny-all``
runs acpx with ``--deny-all`` instead of ``--approve-all``. The summary's ``agentRequests``
counts the agent's requests to acpx by method, ``permissionAnswers`` lists acpx's answers to
``session/request_permission``, and ``tools`` gives each tool call's last status and the
content types it showed.

``--mode session``: the persistent-session scenario, one acpx process per step:
``sessions new`` -> ``prompt hello`` -> ``prompt "tell me more"`` with ``acpx cancel`` started as
soon as the first ``session/update`` of that turn shows up -> ``prompt again`` ->
``sessions close`` (always, so that acpx's detached queue owner and the agent it holds end).

What the agent offers, as ``offers`` in the summary (the same as the SDK drivers record it):
the config options and modes of the first session/new (or resume, or load) answer, the
slash commands of every ``available_commands_update``, the titles of
``session_info_update`` and the last ``usage_update`` seen; in session mode also ``acpx set
KEY VALUE`` after the last prompt (the first select option but ``model``, which acpx
switches its own way, set to its last value) and the complete list its
``session/set_config_option`` answer holds.

Prints ONE JSON object on stdout (see README.md). Exit code 0 when acpx ran without
client-side errors, 1 otherwise, 2 on bad usage. Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
DEFAULT_ACPX = HERE / "node_modules" / ".bin" / "acpx"
ACPX_VERSION = "0.19.1"
#: stderr lines acpx prints about its own progress; anything else on stderr is an error report.
BENIGN_STDERR_PREFIX = "[acpx] "


def now_ms() -> float:
    return time.monotonic() * 1000.0


# --------------------------------------------------------------------------- the JSON stream


@dataclass
class Stream:
    """The ACP messages of one acpx invocation (``--format json`` stdout), with arrival times."""

    live: bool = False  # arrival times are real (read while acpx ran), not after the fact
    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # non-ACP JSON lines (acpx's own records)
    records: list[dict[str, Any]] = field(default_factory=list)  # those that are objects, whole
    garbage: list[str] = field(default_factory=list)

    def feed(self, line: str, at: float) -> dict[str, Any] | None:
        text = line.strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except ValueError:
            self.garbage.append(text[:300])
            return None
        if isinstance(value, dict) and value.get("jsonrpc") == "2.0":
            self.messages.append((at, value))
            return value
        self.other.append(text[:300])
        if isinstance(value, dict):
            self.records.append(value)
        return None

    def methods(self) -> list[str]:
        """The requests and notifications in order, ``<-`` marking responses (for the report)."""
        out: list[str] = []
        for _, message in self.messages:
            if "method" in message:
                out.append(str(message["method"]))
            elif "error" in message:
                out.append(f"<-error {message['id']}")
        return out

    def results(self) -> list[tuple[str, float, dict[str, Any]]]:
        """``(method, arrival, response)`` for every response, matched to its request.

        Both sides number their requests from 0, so an id can be pending on both sides at once
        (the client's ``session/prompt`` 2 and the agent's ``fs/read_text_file`` 2). A
        response goes to the most recent pending request with its id, which is right for the
        strictly nested traffic a prompt turn has.
        """
        pending: list[tuple[Any, str]] = []
        out: list[tuple[str, float, dict[str, Any]]] = []
        for at, message in self.messages:
            if "method" in message and "id" in message:
                pending.append((message["id"], str(message["method"])))
            elif "method" not in message:
                for index in range(len(pending) - 1, -1, -1):
                    if pending[index][0] == message.get("id"):
                        out.append((pending.pop(index)[1], at, message))
                        break
        return out

    def result_of(self, method: str) -> dict[str, Any] | None:
        for name, _, response in self.results():
            if name == method:
                return response
        return None


@dataclass
class Turn:
    prompt: str
    stop_reason: str | None = None
    updates: dict[str, int] = field(default_factory=dict)
    ms: float | None = None
    cancel_after_ms: float | None = None
    answered_after_cancel_ms: float | None = None
    cancel_command_ms: float | None = None
    cancel: bool = False

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prompt": self.prompt,
            "stopReason": self.stop_reason,
            "updates": self.updates,
            "ms": None if self.ms is None else round(self.ms),
        }
        if self.cancel:
            out["cancelAfterMs"] = self.cancel_after_ms
            out["answeredAfterCancelMs"] = self.answered_after_cancel_ms
            out["cancelCommandMs"] = self.cancel_command_ms
        return out


def turn_from_stream(prompt: str, stream: Stream, errors: list[str]) -> Turn:
    """Summarise the (last) prompt turn of one acpx invocation."""
    turn = Turn(prompt=prompt)
    start: float | None = None
    for at, message in stream.messages:
        if message.get("method") == "session/prompt":
            start, turn.updates = at, {}
        elif message.get("method") == "session/update" and start is not None:
            update = message.get("params", {}).get("update", {})
            kind = str(update.get("sessionUpdate"))
            turn.updates[kind] = turn.updates.get(kind, 0) + 1
    for method, at, response in stream.results():
        if method != "session/prompt":
            continue
        if "error" in response:
            errors.append(f"prompt {prompt!r}: error response {json.dumps(response['error'])}")
        else:
            turn.stop_reason = response.get("result", {}).get("stopReason")
        if start is not None and stream.live:
            turn.ms = at - start
    return turn


# --------------------------------------------------------------------------- running acpx


@dataclass
class Acpx:
    """How to call acpx: binary, private environment, common options, overall deadline."""

    binary: Path
    env: dict[str, str]
    common: list[str]
    deadline: float
    errors: list[str]
    #: exit codes that are not failures: 0, and with --deny-all 5 (PERMISSION_DENIED: acpx's
    #: documented exit when every permission request of the run was denied)
    ok_exits: frozenset[int] = frozenset({0})
    calls: list[dict[str, Any]] = field(default_factory=list)

    def remaining(self, at_least: float = 0.1) -> float:
        return max(self.deadline - time.monotonic(), at_least)

    def argv(self, *args: str) -> list[str]:
        return [str(self.binary), *self.common, *args]

    def note(
        self, args: tuple[str, ...], code: int | None, stderr: str, ms: float, stream: Stream
    ) -> None:
        """Record one finished acpx call; its exit code, stderr and errors go to ``errors``."""
        label = " ".join(args)
        self.calls.append({"args": list(args), "exit": code, "ms": round(ms)})
        # acpx reports its own failures as a JSON-RPC error with id null on stdout.
        for _, message in stream.messages:
            if "error" in message and message.get("id") is None:
                self.errors.append(f"acpx {label}: {json.dumps(message['error'])}")
        lines = [line for line in stderr.splitlines() if line.strip()]
        noise = [line for line in lines if not line.startswith(BENIGN_STDERR_PREFIX)]
        if code not in self.ok_exits:
            tail = "\n".join(lines[-20:])
            self.errors.append(
                f"acpx {label}: exit code {code}" + (f"; stderr:\n{tail}" * bool(tail))
            )
        elif noise:
            self.errors.append(f"acpx {label}: stderr: " + "\n".join(noise[:40]))
        if stream.garbage:
            self.errors.append(f"acpx {label}: non-JSON stdout {stream.garbage[:5]}")

    def run(self, *args: str, at_least: float = 0.1) -> Stream:
        """Run one acpx command to completion (``at_least`` seconds even past the deadline)."""
        started = now_ms()
        try:
            done = subprocess.run(
                self.argv(*args),
                env=self.env,
                capture_output=True,
                text=True,
                timeout=self.remaining(at_least),
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            self.errors.append(f"acpx {' '.join(args)}: timed out after {exc.timeout:.1f} s")
            return Stream()
        stream = Stream()
        for line in done.stdout.splitlines():
            stream.feed(line, now_ms())
        self.note(args, done.returncode, done.stderr, now_ms() - started, stream)
        return stream

    @contextlib.contextmanager
    def start(self, *args: str) -> Iterator[subprocess.Popen[str]]:
        """Start one acpx command; kill it if it is still running when the block ends."""
        proc = subprocess.Popen(
            self.argv(*args),
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def _drain(pipe: IO[str], into: list[str]) -> None:
    into.extend(pipe)


@dataclass
class CancelWatch:
    """Watches the live stream of a ``prompt`` and starts ``acpx cancel`` at its first update."""

    acpx: Acpx
    prompt_at: float | None = None
    cancel_started: float | None = None
    cancel_seen: float | None = None
    answered: float | None = None
    canceller: threading.Thread | None = None

    def on_message(self, message: dict[str, Any], at: float) -> None:
        method = message.get("method")
        if method == "session/prompt":
            self.prompt_at = at
        elif method == "session/update":
            if self.prompt_at is not None and self.canceller is None:
                self.cancel_started = at
                self.canceller = threading.Thread(target=self.acpx.run, args=("cancel",))
                self.canceller.start()
        elif method == "session/cancel":
            self.cancel_seen = self.cancel_seen or at
        elif method is None and self.prompt_at is not None and self.answered is None:
            result = message.get("result")
            if "error" in message or (isinstance(result, dict) and "stopReason" in result):
                self.answered = at

    def finish(self, turn: Turn) -> None:
        """Wait for ``acpx cancel``; put the timings into ``turn``, problems into the errors."""
        if self.canceller is not None:
            self.canceller.join(timeout=self.acpx.remaining(at_least=5))
        errors = self.acpx.errors
        if self.cancel_started is None or self.prompt_at is None:
            errors.append(f"prompt {turn.prompt!r}: no session/update arrived to cancel at")
            return
        turn.cancel_after_ms = round(self.cancel_started - self.prompt_at)
        if self.cancel_seen is None:
            errors.append(f"prompt {turn.prompt!r}: acpx never sent session/cancel")
        elif self.answered is not None:
            turn.answered_after_cancel_ms = round(self.answered - self.cancel_seen, 1)
        if self.answered is not None:
            turn.cancel_command_ms = round(self.answered - self.cancel_started, 1)


def run_cancel_turn(acpx: Acpx, prompt: str) -> Turn:
    """``prompt`` in the background; ``acpx cancel`` at the first session/update of the turn."""
    stream = Stream(live=True)
    stderr: list[str] = []
    started = now_ms()
    watch = CancelWatch(acpx)
    code: int | None = None
    with acpx.start("prompt", prompt) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        err_thread = threading.Thread(target=_drain, args=(proc.stderr, stderr), daemon=True)
        err_thread.start()
        timer = threading.Timer(acpx.remaining(), proc.kill)
        timer.start()
        try:
            for line in proc.stdout:
                at = now_ms()
                message = stream.feed(line, at)
                if message is not None:
                    watch.on_message(message, at)
            code = proc.wait(timeout=acpx.remaining())
        finally:
            timer.cancel()
        err_thread.join(timeout=5)
    acpx.note(("prompt", prompt), code, "".join(stderr), now_ms() - started, stream)
    turn = turn_from_stream(prompt, stream, acpx.errors)
    turn.cancel = True
    watch.finish(turn)
    return turn


# --------------------------------------------------------------------------- scenarios


AGENT_REQUESTS = (
    "session/request_permission",
    "fs/read_text_file",
    "fs/write_text_file",
    "terminal/create",
    "terminal/output",
    "terminal/wait_for_exit",
    "terminal/kill",
    "terminal/release",
)


def editor_side(stream: Stream, summary: dict[str, Any]) -> None:
    """What the agent asked of acpx, how acpx answered permission, and each tool call."""
    requests: dict[str, int] = {}
    tools: dict[str, dict[str, Any]] = {}
    for _, message in stream.messages:
        method = message.get("method")
        if method in AGENT_REQUESTS and "id" in message:
            requests[method] = requests.get(method, 0) + 1
        update = message.get("params", {}).get("update", {}) if method == "session/update" else {}
        if update.get("sessionUpdate") in ("tool_call", "tool_call_update"):
            tool = tools.setdefault(str(update.get("toolCallId")), {"content": []})
            for key in ("title", "kind", "status"):
                if update.get(key) is not None:
                    tool[key] = update[key]
            for block in update.get("content") or []:
                if block.get("type") not in tool["content"]:
                    tool["content"].append(block.get("type"))
    summary["agentRequests"] = requests
    summary["permissionAnswers"] = [
        response.get("result", response.get("error"))
        for method, _, response in stream.results()
        if method == "session/request_permission"
    ]
    summary["tools"] = tools


def option_summary(option: dict[str, Any]) -> dict[str, Any]:
    """A config option as the summary keeps it: id, category, current value, its values."""
    choices = option.get("options") or []
    flat = [o for c in choices for o in c.get("options", [c])]
    return {
        "id": option["id"],
        "category": option.get("category"),
        "currentValue": option.get("currentValue"),
        "values": [o["value"] for o in flat],
    }


def new_offers() -> dict[str, Any]:
    return {
        "configOptions": None,
        "modes": None,
        "commands": [],
        "titles": [],
        "usage": None,
        "setConfigOption": None,
    }


def track_offers(stream: Stream, offers: dict[str, Any]) -> None:
    """Add what one acpx invocation's traffic shows the agent offers to ``offers``."""
    opened = ("session/new", "session/resume", "session/load")
    answered = next(filter(None, map(stream.result_of, opened)), None)
    result = (answered or {}).get("result") or {}
    if offers["configOptions"] is None and result.get("configOptions"):
        offers["configOptions"] = [option_summary(o) for o in result["configOptions"]]
    if offers["modes"] is None and result.get("modes"):
        offers["modes"] = [m["id"] for m in result["modes"]["availableModes"]]
    for _, message in stream.messages:
        if message.get("method") != "session/update":
            continue
        update = message.get("params", {}).get("update", {})
        kind = update.get("sessionUpdate")
        if kind == "available_commands_update":
            offers["commands"].append([c["name"] for c in update["availableCommands"]])
        elif kind == "session_info_update" and update.get("title") is not None:
            offers["titles"].append(update["title"])
        elif kind == "usage_update":
            offers["usage"] = {k: update.get(k) for k in ("used", "size", "cost")}


def set_an_option(acpx: Acpx, offers: dict[str, Any]) -> None:
    """``acpx set KEY VALUE``: the first select option but ``model`` to its last value.

    acpx routes ``set model`` to its own model switch, and ``set`` goes through its queue
    owner, whose traffic is not printed; its ``config_set`` record holds the answer's
    complete option list.
    """
    options = [o for o in offers["configOptions"] or [] if o["id"] != "model" and o["values"]]
    if not options:
        return
    select = options[0]
    value = select["values"][-1]
    stream = acpx.run("set", select["id"], value)
    answered = next((r for r in stream.records if r.get("action") == "config_set"), {})
    offers["setConfigOption"] = {
        "configId": select["id"],
        "value": value,
        "configOptions": [option_summary(o) for o in answered.get("configOptions") or []],
    }


def run_exec(acpx: Acpx, summary: dict[str, Any], prompt: str) -> None:
    stream = acpx.run("exec", prompt)
    summary["streams"] = [stream.methods()]
    editor_side(stream, summary)
    track_offers(stream, summary.setdefault("offers", new_offers()))
    init = stream.result_of("initialize")
    summary["initialize"] = None if init is None else init.get("result", init)
    new = stream.result_of("session/new")
    if new is not None:
        summary["sessionId"] = new.get("result", {}).get("sessionId")
    summary["turns"].append(turn_from_stream(prompt, stream, acpx.errors).summary())


def run_session(acpx: Acpx, summary: dict[str, Any], home: Path) -> None:
    streams: list[list[str]] = []
    info: dict[str, Any] = {}
    summary["acpx"] = info
    summary["streams"] = streams
    offers = summary.setdefault("offers", new_offers())
    try:
        created = acpx.run("sessions", "new")
        info["sessionsNew"] = created.other
        streams.append(created.methods())
        track_offers(created, offers)
        if not any('"session_ensured"' in record for record in created.other):
            acpx.errors.append("acpx sessions new: no session_ensured record; not prompting")
            return
        for prompt, cancel in (("hello", False), ("tell me more", True), ("again", False)):
            if cancel:
                turn = run_cancel_turn(acpx, prompt)
                streams.append(["(see cancel turn)"])
            else:
                stream = acpx.run("prompt", prompt)
                streams.append(stream.methods())
                track_offers(stream, offers)
                if summary["initialize"] is None:
                    init = stream.result_of("initialize")
                    summary["initialize"] = None if init is None else init.get("result", init)
                turn = turn_from_stream(prompt, stream, acpx.errors)
            summary["turns"].append(turn.summary())
        set_an_option(acpx, offers)
        info["records"] = [
            _record(path) for path in sorted((home / ".acpx" / "sessions").glob("*.json"))
        ]
        if info["records"]:
            summary["sessionId"] = info["records"][0].get("acp_session_id")
    finally:
        acpx.run("sessions", "close", at_least=15)
        info["files"] = sorted(
            str(path.relative_to(home)) for path in home.rglob("*") if path.is_file()
        )
        _reap_queue_owners(home, acpx.errors)


def _record(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    keep = ("acpx_record_id", "acp_session_id", "cwd", "closed", "agent_capabilities")
    return {key: data.get(key) for key in keep}


def _reap_queue_owners(home: Path, errors: list[str]) -> None:
    """Kill any acpx queue owner still alive after ``sessions close`` (and report it)."""
    for lock in (home / ".acpx" / "queues").glob("*.lock"):
        try:
            pid = int(json.loads(lock.read_text(encoding="utf-8"))["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # gone (or no /proc): nothing to reap
        if b"__queue-owner" not in cmdline:
            continue  # the pid was reused by some other process: not ours
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        errors.append(f"acpx queue owner {pid} survived 'sessions close'; killed it")


# --------------------------------------------------------------------------- main


def remove_socket_dir(home: Path) -> None:
    """Remove the (empty) directory acpx made for its queue sockets: ``/tmp/acpx-<hash>``.

    acpx 0.19.1 puts it at ``/tmp/acpx-`` + the first 10 hex digits of sha256($HOME), whatever
    ``TMPDIR`` says, and leaves it behind after ``sessions close``.
    """
    digest = hashlib.sha256(str(home).encode()).hexdigest()[:10]
    try:
        (Path("/tmp") / f"acpx-{digest}").rmdir()
    except OSError:
        pass  # absent (exec mode never makes it) or not empty (then it is not ours to clear)


def private_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    tmp = home / "t"
    for path in (tmp, home / ".config", home / ".local" / "state", home / ".local" / "share"):
        path.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        TMPDIR=str(tmp),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
    )
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--cwd", type=Path, default=Path.cwd(), help="the session's cwd")
    parser.add_argument("--mode", choices=("exec", "session"), default="exec")
    parser.add_argument("--prompt", default="hello", help="the prompt of --mode exec")
    parser.add_argument("--permissions", choices=("approve-all", "deny-all"), default="approve-all")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for everything")
    parser.add_argument("--home", type=Path, help="acpx's private HOME (kept afterwards)")
    parser.add_argument("--acpx", type=Path, default=DEFAULT_ACPX, help="the acpx executable")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no agent command after --")
    if not args.acpx.exists():
        parser.error(f"{args.acpx} is missing: run `npm ci --prefix tests/interop`")
    home = args.home.resolve() if args.home else Path(tempfile.mkdtemp(prefix="acpx-home-"))
    cwd = args.cwd.resolve()
    summary: dict[str, Any] = {
        "client": {"cli": "acpx", "version": ACPX_VERSION, "mode": args.mode},
        "command": command,
        "cwd": str(cwd),
        "home": str(home) if args.home else None,
        "initialize": None,
        "sessionId": None,
        "turns": [],
        "errors": [],
    }
    acpx = Acpx(
        binary=args.acpx,
        env=private_env(home),
        common=[
            *(f"--{args.permissions}", "--format", "json", "--cwd", str(cwd)),
            *("--timeout", str(int(args.timeout)), "--ttl", str(int(args.timeout))),
            *("--agent", shlex.join(command)),
        ],
        deadline=time.monotonic() + args.timeout,
        errors=summary["errors"],
        ok_exits=frozenset({0, 5} if args.permissions == "deny-all" else {0}),
    )
    try:
        if args.mode == "exec":
            run_exec(acpx, summary, args.prompt)
        else:
            run_session(acpx, summary, home)
    finally:
        summary["calls"] = acpx.calls
        remove_socket_dir(home)
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)
    sys.stdout.write(json.dumps(summary) + "\n")
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
