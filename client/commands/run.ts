import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, realpathSync, rmdirSync } from "node:fs";
import { constants } from "node:os";
import { dirname, join, resolve } from "node:path";
import { McpwError } from "../../protocol/errors.js";
import { Policy, type PolicyInput } from "../../protocol/policy.js";
import { parseConfig, readJsonFile } from "../../server/config.js";
import { startEmbedded, type Embedded } from "../../server/embedded.js";
import { defaultStateDir, ensureStateDir } from "../../server/state-dir.js";
import { launchSandbox } from "../../wrapper/launcher.js";
import { list, str, UsageError, type CommandSpec, type ParsedArgs } from "../command.js";

const LOOPBACK_NAME = /^(localhost)(:\d+)?$/i;

/** The run's policy: the policy file (or {}), then --ro, --rw, --allow-net on top. */
export function runPolicy(args: ParsedArgs, cwd: string): Policy {
  const file = str(args.values.policy);
  const base = (file ? readJsonFile(file, "policy file") : {}) as PolicyInput;
  if (typeof base !== "object" || base === null || Array.isArray(base)) throw new McpwError("bad_params", `policy file ${file} must hold a JSON object`);
  const hostPath = (p: string, flag: string) => {
    const abs = resolve(cwd, p);
    if (!existsSync(abs)) throw new UsageError(`${flag} ${p}: no such file or directory`);
    return realpathSync(abs);
  };
  const input = structuredClone(base) as Record<string, any>;
  const fsIn = (input.filesystem ??= {});
  fsIn.readonly = [...(fsIn.readonly ?? []), ...list(args.values.ro).map((p) => hostPath(p, "--ro"))];
  fsIn.writable = [...(fsIn.writable ?? []), ...list(args.values.rw).map((p) => hostPath(p, "--rw"))];
  const net = (input.network ??= {});
  const hosts = list(args.values["allow-net"]);
  net.allowedDomains = [...(net.allowedDomains ?? []), ...hosts];
  // "--allow-net localhost:8080" means the host's loopback: let its addresses through the range check.
  if (hosts.some((h) => LOOPBACK_NAME.test(h))) net.allowedCidrs = [...(net.allowedCidrs ?? []), "127.0.0.0/8", "::1/128"];
  const envIn = (input.env ??= {});
  envIn.pass = [...(envIn.pass ?? []), ...list(args.values["pass-env"])];
  envIn.set = { ...(envIn.set ?? {}) };
  for (const kv of list(args.values["set-env"])) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new UsageError(`--set-env ${kv}: expected NAME=VALUE`);
    envIn.set[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  if (args.values.isolation) input.isolation = args.values.isolation;
  return parseConfig(Policy, input, file ? `policy ${file}` : "policy");
}

export const runCommand: CommandSpec = {
  name: "run",
  summary: "run a command sandboxed, with an embedded server and bridge (no daemons needed)",
  usage: "[--policy <file>] [--mount <dir>] [--ro <path>]... [--rw <path>]... [--allow-net <host>]... [--pass-env <name>]... [--env <env>] -- <command...>",
  rest: true,
  options: {
    policy: { type: "string", help: "<file> JSON policy (default: {}, the tightest)" },
    mount: { type: "string", help: "<dir> host directory to bind at /mount (default ./mount/<sandbox-id>/)" },
    ro: { type: "string", multiple: true, help: "<path> expose a host path read-only, at the same path inside" },
    rw: { type: "string", multiple: true, help: "<path> expose a host path read-write, at the same path inside" },
    "allow-net": { type: "string", multiple: true, help: "<host> allow connections to host (example.com, *.example.com, host:port)" },
    "pass-env": { type: "string", multiple: true, help: "<name> pass this host environment variable in (none are by default)" },
    "set-env": { type: "string", multiple: true, help: "<name=value> set a variable inside the sandbox" },
    env: { type: "string", help: "<env> environment name of the embedded bridge (env MCPW_ENV; default dev)" },
    isolation: { type: "string", help: "<mode> strict (refuse without bubblewrap) or best-effort" },
    audit: { type: "string", help: "<file> audit log (default <state-dir>/run-audit.jsonl)" },
    quiet: { type: "boolean", short: "q", help: "no start-up line on stderr" },
  },
  details: `
stdin and stdout belong to the program (MCP stdio passes through untouched); mcpw writes only to
stderr. The exit code is the program's. In an MCP client configuration:
  "command": "mcpw", "args": ["run", "--", "npx", "@modelcontextprotocol/server-memory"]`,
  async run(args) {
    if (args.rest.length === 0) throw new UsageError("mcpw run needs a command after --, e.g. mcpw run -- node server.js");
    const cwd = process.cwd();
    const policy = runPolicy(args, cwd);
    const env = str(args.values.env) ?? process.env.MCPW_ENV ?? "dev";
    const stateDir = defaultStateDir();
    const id = `sb-${randomBytes(4).toString("hex")}`;
    const auditPath = str(args.values.audit) ?? auditFileIn(stateDir);

    let workspace: string;
    let madeWorkspace = false;
    if (str(args.values.mount)) workspace = resolve(cwd, str(args.values.mount)!);
    else {
      workspace = defaultWorkspace(cwd, stateDir, id);
      madeWorkspace = true;
    }
    // The sandbox is spawned first; the embedded server and bridge are built while it boots, and
    // its first privileged request waits for them.
    let ready!: (e: Embedded) => void;
    let failed!: (e: unknown) => void;
    const starting = new Promise<Embedded>((res, rej) => ((ready = res), (failed = rej)));
    starting.catch(() => undefined);
    let launched;
    try {
      launched = await launchSandbox({
        id,
        command: args.rest,
        policy,
        workspace,
        cwd,
        hostEnv: process.env,
        stdio: "inherit",
        protect: [stateDir],
        channel: {
          callOp: async (o, op, opts) => (await starting).server.router.call(o, op, opts),
          audit: (e) => void starting.then((s) => s.server.audit.write(e)),
        },
      });
    } catch (e) {
      if (madeWorkspace) rmdirSync(workspace);
      throw e;
    }
    startEmbedded({ env, policy, auditPath, cwd }).then(ready, failed);
    const embedded = await starting.catch(async (e: unknown) => {
      await launched.process.stop(0);
      launched.dispose();
      throw e;
    });
    if (launched.isolation.bubblewrap?.startsWith("MISSING")) {
      process.stderr.write(`mcpw: WARNING: running WITHOUT isolation (policy isolation "best-effort"): ${launched.isolation.bubblewrap}\n`);
    } else if (!args.values.quiet) {
      process.stderr.write(`mcpw: ${id} sandboxed (workspace ${workspace} at /mount, environment "${env}")\n`);
    }
    const stop = () => void launched.process.stop(2000);
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, stop);
    const exit = await launched.process.exited;
    launched.dispose();
    await embedded.close();
    if (exit.signal) return 128 + (constants.signals[exit.signal] ?? 0);
    return exit.code ?? 1;
  },
};

function auditFileIn(stateDir: string): string | null {
  try {
    return join(ensureStateDir(stateDir), "run-audit.jsonl");
  } catch {
    return null;
  }
}

/** ./mount/<id>/ beside the caller, or under the state dir when the cwd is not writable. */
function defaultWorkspace(cwd: string, stateDir: string, id: string): string {
  for (const dir of [join(cwd, "mount", id), join(stateDir, "workspaces", id)]) {
    try {
      // The parent is searchable (a sandbox may run as another uid); the workspace itself is 0700.
      mkdirSync(dirname(dir), { recursive: true, mode: 0o755 });
      mkdirSync(dir, { mode: 0o700 });
      return dir;
    } catch {
      // try the next place
    }
  }
  throw new McpwError("io_error", `cannot create a workspace under ${join(cwd, "mount")} or ${join(stateDir, "workspaces")}; pass --mount <dir>`);
}
