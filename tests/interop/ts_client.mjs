#!/usr/bin/env node
// Interop driver: the official TypeScript SDK (@agentclientprotocol/sdk 2.4.0, 2.x app API)
// as an ACP client against any agent command.
//
//   node tests/interop/ts_client.mjs --cwd DIR [--timeout-ms 30000] -- CMD [ARGS...]
//
// Scenario: initialize (v1; fs read/write, no terminal) -> session/new (cwd, no MCP servers)
// -> prompt "hello" to completion -> prompt "tell me more", session/cancel as soon as the
// first session/update of that turn arrives -> prompt "again" to completion. Then it closes
// the agent's stdin and waits for it to exit.
//
// --powers PROMPT (repeatable): the editor's powers instead. initialize offering fs read/write
// and terminals (--caps none: neither), session/new, then each PROMPT to completion, answering the
// agent's requests: permission by --permission allow (allow_once, the default) | always
// (allow_always) | reject (reject_once) | cancel (session/cancel, then the "cancelled"
// outcome), fs/* on the real file system, terminal/* by running the command here. The summary
// then has `permissions` (what each request showed), `terminals` (the commands run) and
// `tools` (each tool call's title, kind, last status and content types).
//
// What the agent offers (both scenarios): the summary's `offers` holds the config options of
// the session/new answer, the slash commands of every available_commands_update, the titles
// of session_info_update and the last usage_update; when the answer has options, the driver
// ends the session with a session/set_config_option round trip (the first select option set
// to its last value) and records the complete list it answers with.
//
// Prints ONE JSON object on stdout at the end (see README.md); everything else goes to stderr.
// Exit code 0 when the scenario ran without client-side errors, 1 otherwise, 2 on bad usage.
//
// SDK 2.4.0 no longer exports the 1.x `ClientSideConnection` (removed together with the rest
// of the legacy API; `/unstable` does not restore it), so there is no --legacy variant.

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { Readable, Writable } from "node:stream";
import * as acp from "@agentclientprotocol/sdk";

// The SDK does not export its package.json; read it next to this script.
const SDK_PACKAGE = new URL("./node_modules/@agentclientprotocol/sdk/package.json", import.meta.url);
const SDK_VERSION = JSON.parse(readFileSync(SDK_PACKAGE, "utf8")).version;

const PROMPTS = [
  { text: "hello", cancel: false },
  { text: "tell me more", cancel: true },
  { text: "again", cancel: false },
];

function usage(message) {
  process.stderr.write(`ts_client: ${message}\n`);
  process.stderr.write("usage: node ts_client.mjs --cwd DIR [--timeout-ms N] -- CMD [ARGS...]\n");
  process.exit(2);
}

function parseArgs(argv) {
  const options = {
    cwd: process.cwd(),
    timeoutMs: 30000,
    command: [],
    load: null,
    powers: null, // the prompts of the --powers scenario
    caps: "all",
    permission: "allow",
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      options.command = argv.slice(i + 1);
      break;
    } else if (arg === "--cwd") {
      options.cwd = argv[++i];
    } else if (arg === "--load") {
      options.load = argv[++i];
    } else if (arg === "--powers") {
      (options.powers ??= []).push(argv[++i]);
    } else if (arg === "--caps") {
      options.caps = argv[++i];
    } else if (arg === "--permission") {
      options.permission = argv[++i];
    } else if (arg === "--timeout-ms") {
      options.timeoutMs = Number(argv[++i]);
    } else {
      usage(`unknown argument ${JSON.stringify(arg)}`);
    }
  }
  if (options.command.length === 0) usage("no agent command after --");
  if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) usage("bad --timeout-ms");
  if (!["all", "none"].includes(options.caps)) usage("--caps is all or none");
  if (!["allow", "always", "reject", "cancel"].includes(options.permission)) {
    usage("--permission is allow, always, reject or cancel");
  }
  return options;
}

const options = parseArgs(process.argv.slice(2));
const started = performance.now();
const ms = (t) => Math.round((t - started) * 10) / 10;
const summary = {
  client: { sdk: "@agentclientprotocol/sdk", version: SDK_VERSION, api: "client().connectWith" },
  command: options.command,
  cwd: options.cwd,
  initialize: null,
  sessionId: null,
  turns: [],
  agentRequests: {},
  strayUpdates: 0, // session/update for a session id other than ours
  permissions: [],
  terminals: [],
  tools: {},
  offers: { configOptions: null, modes: null, commands: [], titles: [], usage: null, setConfigOption: null },
  errors: [],
  agentExit: null,
};

// A config option as the summary keeps it: id, category, current value and possible values.
function optionSummary(option) {
  return {
    id: option.id,
    category: option.category ?? null,
    currentValue: option.currentValue,
    values: (option.options ?? []).flatMap((o) => (o.options ? o.options : [o])).map((o) => o.value),
  };
}

// The session-level updates that show what the agent offers.
function trackOffers(update) {
  const offers = summary.offers;
  if (update.sessionUpdate === "available_commands_update") {
    offers.commands.push(update.availableCommands.map((c) => c.name));
  } else if (update.sessionUpdate === "session_info_update" && update.title != null) {
    offers.titles.push(update.title);
  } else if (update.sessionUpdate === "usage_update") {
    offers.usage = { used: update.used, size: update.size, cost: update.cost ?? null };
  }
}

// The SDK reports dropped (invalid) notifications and handler failures with console.error;
// every such call is a client-side error.
const originalError = console.error.bind(console);
console.error = (...args) => {
  summary.errors.push(
    `console.error: ${args.map((a) => (a instanceof Error ? a.stack ?? a.message : typeof a === "string" ? a : safeJson(a))).join(" ")}`,
  );
  originalError(...args);
};
console.warn = console.error;

function safeJson(value) {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

function describe(error) {
  if (error instanceof acp.RequestError) {
    return `RequestError ${error.code}: ${error.message}${error.data === undefined ? "" : ` ${safeJson(error.data)}`}`;
  }
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function countRequest(method) {
  summary.agentRequests[method] = (summary.agentRequests[method] ?? 0) + 1;
}

function emit(code) {
  process.stdout.write(`${JSON.stringify(summary)}\n`, () => process.exit(code));
}

const child = spawn(options.command[0], options.command.slice(1), {
  cwd: options.cwd,
  stdio: ["pipe", "pipe", "inherit"],
  env: process.env,
});
const childExited = new Promise((resolve) => {
  child.on("exit", (code, signal) => {
    summary.agentExit = { code, signal, atMs: ms(performance.now()) };
    resolve();
  });
  child.on("error", (error) => {
    summary.errors.push(`spawn: ${describe(error)}`);
    resolve();
  });
});
child.stdin.on("error", (error) => summary.errors.push(`agent stdin: ${describe(error)}`));

const deadline = setTimeout(() => {
  summary.errors.push(`timeout: the scenario did not finish within ${options.timeoutMs} ms`);
  child.kill("SIGKILL");
  emit(1);
}, options.timeoutMs);

const stream = acp.ndJsonStream(Writable.toWeb(child.stdin), Readable.toWeb(child.stdout));

// The editor's terminals (terminal/*): each runs its command here, output kept up to its limit.
const terminals = new Map();
let nextTerminal = 0;

function createTerminal(params) {
  const id = `term-${++nextTerminal}`;
  const limit = params.outputByteLimit ?? null;
  const term = { output: Buffer.alloc(0), truncated: false, exitStatus: null };
  const proc = spawn(params.command, params.args ?? [], {
    cwd: params.cwd ?? options.cwd,
    env: { ...process.env, ...Object.fromEntries((params.env ?? []).map((v) => [v.name, v.value])) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const append = (chunk) => {
    term.output = Buffer.concat([term.output, chunk]);
    if (limit !== null && term.output.length > limit) {
      term.output = term.output.subarray(term.output.length - limit);
      term.truncated = true;
    }
  };
  proc.stdout.on("data", append);
  proc.stderr.on("data", append);
  term.exited = new Promise((resolve) => {
    proc.on("close", (code, signal) => {
      term.exitStatus = { exitCode: code, signal };
      resolve(term.exitStatus);
    });
    proc.on("error", (error) => {
      append(Buffer.from(`${describe(error)}\n`));
      term.exitStatus = { exitCode: 127, signal: null };
      resolve(term.exitStatus);
    });
  });
  term.proc = proc;
  terminals.set(id, term);
  summary.terminals.push({ command: [params.command, ...(params.args ?? [])], cwd: params.cwd });
  return id;
}

function terminalOf(params) {
  const term = terminals.get(params.terminalId);
  if (!term) throw acp.RequestError.invalidParams({ terminalId: params.terminalId });
  return term;
}

// Each tool call as the user would see it at the end: title, kind, last status, content types.
function trackTool(update) {
  if (update.sessionUpdate !== "tool_call" && update.sessionUpdate !== "tool_call_update") return;
  const tool = (summary.tools[update.toolCallId] ??= { content: [] });
  for (const key of ["title", "kind", "status"]) {
    if (update[key] != null) tool[key] = update[key];
  }
  for (const block of update.content ?? []) {
    if (!tool.content.includes(block.type)) tool.content.push(block.type);
  }
}

let connection = null; // the connection context, for requests made from inside handlers
const updateSessionIds = [];
// --load mode: every update of the loaded session, counted by kind, as it arrives.
const loadedUpdates = {};
let afterLoadPhase = false;
const app = acp
  .client({ name: "acp-bridge-interop-ts" })
  // ActiveSession routes our session's updates; this handler sees all of them (after the SDK's
  // validation) and counts the ones for a session id that is not ours.
  .onNotification(acp.methods.client.session.update, ({ params }) => {
    updateSessionIds.push(params.sessionId);
    trackTool(params.update);
    trackOffers(params.update);
    if (options.load !== null && params.sessionId === options.load) {
      const bucket = afterLoadPhase ? "afterLoad" : "replayed";
      loadedUpdates[bucket] ??= {};
      const kind = params.update.sessionUpdate;
      loadedUpdates[bucket][kind] = (loadedUpdates[bucket][kind] ?? 0) + 1;
    }
  })
  .onRequest(acp.methods.client.session.requestPermission, async ({ params }) => {
    countRequest("session/request_permission");
    summary.permissions.push({
      title: params.toolCall.title ?? null,
      kind: params.toolCall.kind ?? null,
      optionKinds: params.options.map((o) => o.kind),
      content: (params.toolCall.content ?? []).map((c) => c.type),
    });
    if (options.permission === "cancel") {
      // The user stops the turn while the question is open: cancel, then answer "cancelled".
      await connection.notify(acp.methods.agent.session.cancel, { sessionId: params.sessionId });
      return { outcome: { outcome: "cancelled" } };
    }
    const wanted = { allow: "allow_once", always: "allow_always", reject: "reject_once" };
    const option = params.options.find((o) => o.kind === wanted[options.permission]);
    if (!option) return { outcome: { outcome: "cancelled" } };
    return { outcome: { outcome: "selected", optionId: option.optionId } };
  })
  .onRequest(acp.methods.client.fs.readTextFile, async ({ params }) => {
    countRequest("fs/read_text_file");
    const text = await readFile(params.path, "utf8");
    if (params.line == null && params.limit == null) return { content: text };
    const lines = text.split(/(?<=\n)/);
    const first = Math.max((params.line ?? 1) - 1, 0);
    const end = params.limit == null ? lines.length : first + params.limit;
    return { content: lines.slice(first, end).join("") };
  })
  .onRequest(acp.methods.client.fs.writeTextFile, async ({ params }) => {
    countRequest("fs/write_text_file");
    await writeFile(params.path, params.content, "utf8");
    return {};
  })
  .onRequest(acp.methods.client.terminal.create, ({ params }) => {
    countRequest("terminal/create");
    return { terminalId: createTerminal(params) };
  })
  .onRequest(acp.methods.client.terminal.output, ({ params }) => {
    countRequest("terminal/output");
    const term = terminalOf(params);
    const answer = { output: term.output.toString("utf8"), truncated: term.truncated };
    if (term.exitStatus !== null) answer.exitStatus = term.exitStatus;
    return answer;
  })
  .onRequest(acp.methods.client.terminal.waitForExit, async ({ params }) => {
    countRequest("terminal/wait_for_exit");
    return await terminalOf(params).exited;
  })
  .onRequest(acp.methods.client.terminal.kill, ({ params }) => {
    countRequest("terminal/kill");
    const term = terminalOf(params);
    if (term.exitStatus === null) term.proc.kill("SIGTERM");
    return {};
  })
  .onRequest(acp.methods.client.terminal.release, ({ params }) => {
    countRequest("terminal/release");
    const term = terminalOf(params);
    if (term.exitStatus === null) term.proc.kill("SIGKILL");
    terminals.delete(params.terminalId);
    return {};
  });

async function runTurn(ctx, session, { text, cancel }) {
  const turn = { prompt: text, stopReason: null, updates: {}, ms: null };
  const t0 = performance.now();
  let answeredAt = null;
  let cancelAt = null;
  const response = session.prompt(text);
  response.then(
    () => {
      answeredAt = performance.now();
    },
    () => {
      answeredAt = performance.now();
    },
  );
  try {
    for (;;) {
      const message = await session.nextUpdate();
      if (message.kind === "stop") {
        turn.stopReason = message.stopReason;
        break;
      }
      const kind = message.update.sessionUpdate;
      turn.updates[kind] = (turn.updates[kind] ?? 0) + 1;
      if (cancel && cancelAt === null) {
        cancelAt = performance.now();
        turn.cancelAfterMs = Math.round(cancelAt - t0);
        await ctx.notify(acp.methods.agent.session.cancel, { sessionId: session.sessionId });
      }
    }
    await response;
  } catch (error) {
    turn.error = describe(error);
    summary.errors.push(`prompt ${JSON.stringify(text)}: ${turn.error}`);
  }
  const end = answeredAt ?? performance.now();
  turn.ms = Math.round(end - t0);
  if (cancel) {
    turn.cancelAfterMs ??= null;
    turn.answeredAfterCancelMs = cancelAt === null ? null : Math.round((end - cancelAt) * 10) / 10;
  }
  summary.turns.push(turn);
}

let failed = false;
try {
  await app.connectWith(stream, async (ctx) => {
    connection = ctx;
    const offered = options.powers === null || options.caps === "all";
    summary.initialize = await ctx.request(acp.methods.agent.initialize, {
      protocolVersion: 1,
      clientCapabilities: {
        fs: { readTextFile: offered, writeTextFile: offered },
        terminal: options.powers !== null && offered,
      },
      clientInfo: { name: "acp-bridge-interop-ts", version: SDK_VERSION },
    });
    if (options.load !== null) {
      // Reopen a recorded thread: replayed updates arrive before the load answer.
      const t0 = performance.now();
      await ctx.request(acp.methods.agent.session.load, {
        sessionId: options.load,
        cwd: options.cwd,
        mcpServers: [],
      });
      summary.sessionId = options.load;
      summary.load = { ms: Math.round(performance.now() - t0), updates: loadedUpdates.replayed ?? {} };
      afterLoadPhase = true;
      const answer = await ctx.request(acp.methods.agent.session.prompt, {
        sessionId: options.load,
        prompt: [{ type: "text", text: "after load" }],
      });
      summary.afterLoad = { stopReason: answer.stopReason, updates: loadedUpdates.afterLoad ?? {} };
      return;
    }
    const session = await ctx.buildSession({ cwd: options.cwd, mcpServers: [] }).start();
    summary.sessionId = session.sessionId;
    const answered = session.newSessionResponse;
    summary.offers.configOptions = answered.configOptions?.map(optionSummary) ?? null;
    summary.offers.modes = answered.modes?.availableModes.map((m) => m.id) ?? null;
    try {
      const prompts =
        options.powers === null ? PROMPTS : options.powers.map((text) => ({ text, cancel: false }));
      for (const prompt of prompts) {
        await runTurn(ctx, session, prompt);
      }
      const select = answered.configOptions?.find((o) => o.type === "select");
      if (select) {
        const value = optionSummary(select).values.at(-1);
        const result = await ctx.request(acp.methods.agent.session.setConfigOption, {
          sessionId: session.sessionId,
          configId: select.id,
          value,
        });
        summary.offers.setConfigOption = {
          configId: select.id,
          value,
          configOptions: result.configOptions.map(optionSummary),
        };
      }
    } finally {
      session.dispose();
    }
  });
} catch (error) {
  failed = true;
  summary.errors.push(`connection: ${describe(error)}`);
}

// Close the agent's stdin (EOF is how ACP clients say goodbye), then escalate.
child.stdin.end();
const exitedInTime = await Promise.race([
  childExited.then(() => true),
  new Promise((resolve) => setTimeout(() => resolve(false), 5000)),
]);
if (!exitedInTime) {
  summary.errors.push("the agent did not exit within 5 s of stdin EOF; sent SIGTERM");
  child.kill("SIGTERM");
  await Promise.race([childExited, new Promise((resolve) => setTimeout(resolve, 2000))]);
  if (summary.agentExit === null) child.kill("SIGKILL");
}
clearTimeout(deadline);
summary.strayUpdates = updateSessionIds.filter((id) => id !== summary.sessionId).length;
emit(failed || summary.errors.length > 0 ? 1 : 0);
