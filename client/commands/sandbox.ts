import type { LogLine, SandboxInfo } from "../../protocol/methods.js";
import { Policy } from "../../protocol/policy.js";
import { parseConfig, readJsonObject } from "../../server/config.js";
import { str, UsageError, type CommandSpec, type ParsedArgs } from "../command.js";
import { printTable, SERVER_OPTIONS, withServer } from "../admin-session.js";
import { clean } from "../text.js";

export const sandboxCreateCommand: CommandSpec = {
  name: "sandbox create",
  summary: "create (and start) a sandbox on the server",
  usage: "[--name <name>] [--policy <file>] [--workspace <dir>] [--no-start] -- <command...>",
  rest: true,
  options: {
    name: { type: "string", help: "<name> a label (default: the command's name)" },
    policy: { type: "string", help: "<file> JSON policy (default: the tightest policy, {})" },
    workspace: { type: "string", help: "<dir> host directory bound at /mount (default ./mount/<sandbox-id>/ beside the server)" },
    "no-start": { type: "boolean", help: "only register it; start later with mcpw sandbox start" },
    ...SERVER_OPTIONS,
  },
  async run(args) {
    if (args.rest.length === 0) throw new UsageError("mcpw sandbox create needs a command after --, e.g. mcpw sandbox create -- npx @modelcontextprotocol/server-memory");
    const policyFile = str(args.values.policy);
    const policy = policyFile ? parseConfig(Policy, readJsonObject(policyFile, "policy file"), `policy ${policyFile}`) : {};
    const info = await withServer(args, (c) =>
      c.call("sandbox.create", {
        command: args.rest,
        policy,
        start: !args.values["no-start"],
        ...(str(args.values.name) ? { name: str(args.values.name)! } : {}),
        ...(str(args.values.workspace) ? { workspace: str(args.values.workspace)! } : {}),
      }),
    );
    printInfo(args, info);
    return 0;
  },
};

export const sandboxListCommand: CommandSpec = {
  name: "sandbox list",
  summary: "list sandboxes",
  options: { ...SERVER_OPTIONS },
  async run(args) {
    const { sandboxes } = await withServer(args, (c) => c.call("sandbox.list"));
    printTable(
      args,
      sandboxes.map((s) => ({
        id: s.id,
        name: s.name,
        state: s.state === "exited" && s.exit ? `exited: ${s.exit.reason}` : s.state,
        env: s.env,
        pid: s.pid,
        restarts: s.restarts,
        command: s.command.join(" ").slice(0, 60),
      })),
      sandboxes,
    );
    return 0;
  },
};

/** start/stop/restart/status/rm: one id, one call, print the result. */
function idCommand(verb: "start" | "stop" | "restart" | "status" | "rm", summary: string): CommandSpec {
  return {
    name: `sandbox ${verb}`,
    summary,
    usage: "<sandbox-id>",
    positionals: ["sandbox-id"],
    options: { ...SERVER_OPTIONS },
    async run(args) {
      const id = args.positionals[0];
      if (!id) throw new UsageError(`mcpw sandbox ${verb} needs a sandbox id (see mcpw sandbox list)`);
      if (verb === "rm") {
        await withServer(args, (c) => c.call("sandbox.remove", { id }));
        process.stdout.write(`removed ${id}\n`);
        return 0;
      }
      const method = `sandbox.${verb}` as const;
      const info = await withServer(args, (c) => c.call(method, { id }));
      printInfo(args, info);
      return 0;
    },
  };
}

export const sandboxStartCommand = idCommand("start", "start a created or exited sandbox");
export const sandboxStopCommand = idCommand("stop", "stop a running sandbox (SIGTERM, then SIGKILL after 3 s)");
export const sandboxRestartCommand = idCommand("restart", "stop and start a sandbox");
export const sandboxStatusCommand = idCommand("status", "show one sandbox");
export const sandboxRemoveCommand = idCommand("rm", "stop and forget a sandbox (its workspace stays)");

export const sandboxLogsCommand: CommandSpec = {
  name: "sandbox logs",
  summary: "print a sandbox's stderr and lifecycle lines",
  usage: "<sandbox-id> [--tail <n>] [--follow]",
  positionals: ["sandbox-id"],
  options: {
    tail: { type: "string", help: "<n> lines from the end (default 200)" },
    follow: { type: "boolean", short: "f", help: "keep printing new lines until interrupted or the sandbox exits" },
    ...SERVER_OPTIONS,
  },
  async run(args) {
    const id = args.positionals[0];
    if (!id) throw new UsageError("mcpw sandbox logs needs a sandbox id");
    const tail = str(args.values.tail) ? Number(str(args.values.tail)) : 200;
    if (!Number.isInteger(tail) || tail < 1) throw new UsageError(`--tail: expected a positive integer, got ${str(args.values.tail)}`);
    // The sandbox wrote these lines: escape sequences in them must not reach the terminal.
    const print = (l: LogLine) => process.stdout.write(`${l.at} ${l.stream === "system" ? "[mcpw] " : ""}${clean(l.text)}\n`);
    await withServer(args, async (c) => {
      const { lines } = await c.call("sandbox.logs", { id, tail });
      lines.forEach(print);
      if (!args.values.follow) return;
      let last = lines.at(-1)?.seq ?? 0;
      await new Promise<void>((resolve) => {
        c.peer.onEvent((event, data) => {
          const d = data as LogLine & { sandbox?: string } & SandboxInfo;
          if (event === "sandbox.log" && d.sandbox === id && d.seq > last) {
            last = d.seq;
            print(d);
          }
          if (event === "sandbox.state" && d.id === id && d.state === "exited") resolve();
        });
        void c.call("subscribe", { topics: ["logs", "sandboxes"] });
        process.once("SIGINT", () => resolve());
        void c.peer.closed().then(() => resolve());
      });
    });
    return 0;
  },
};

function printInfo(args: ParsedArgs, info: SandboxInfo): void {
  if (args.values.json) {
    process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    return;
  }
  const rows: [string, string][] = [
    ["id", info.id],
    ["name", info.name],
    ["state", info.state + (info.exit ? ` (${info.exit.reason})` : "")],
    ["command", info.command.join(" ")],
    ["workspace", info.workspace],
    ["environment", info.env],
    ["pid", String(info.pid ?? "-")],
    ["restarts", String(info.restarts)],
    ...Object.entries(info.isolation).map(([k, v]) => [`isolation.${k}`, v] as [string, string]),
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${clean(v)}\n`);
}
