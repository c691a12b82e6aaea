import type { ChildProcess } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import { constants } from "node:os";
import { join, resolve } from "node:path";
import { Policy, type PolicyInput } from "../../protocol/policy.js";
import { parseConfig, readJsonObject } from "../../server/config.js";
import { startEmbedded, type Embedded } from "../../server/embedded.js";
import { defaultStateDir, ensureStateDir } from "../../server/state-dir.js";
import { configureSandbox } from "../../wrapper/launcher.js";
import { exitReason, LimitWatch, Tail } from "../../wrapper/sandbox-limits.js";
import { removeMadeWorkspace, RUN_OPTIONS, startRunSandbox, type RunStart } from "../run-start.js";
import { list, str, UsageError, type CommandSpec, type ParsedArgs } from "../command.js";

/** How long a program signalled through mcpw has to exit before the sandbox is killed. */
const STOP_GRACE_MS = 5000;

/** The run's policy: the policy file (or {}), then --ro, --rw, --allow-net on top. */
export function runPolicy(args: ParsedArgs, cwd: string): Policy {
  const file = str(args.values.policy);
  const base = (file ? readJsonObject(file, "policy file") : {}) as PolicyInput;
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
  // "--allow-net localhost:8080" means the host's loopback at that port: the bridge lets a loopback
  // address through for a request that matched that entry only (bridge/destination-check.ts), not
  // for every allowed name (adding 127.0.0.0/8 to allowedCidrs here opened every loopback port).
  net.allowedDomains = [...(net.allowedDomains ?? []), ...hosts];
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
  options: RUN_OPTIONS,

  details: `
stdin and stdout belong to the program (MCP stdio passes through untouched); mcpw writes only to
stderr. The exit code is the program's; when a policy limit ends it, mcpw says which on stderr
("mcpw: stopped: timeout (timeoutMs=1000)") and exits non-zero. SIGTERM, SIGINT and SIGHUP are
passed on to the program, which has 5 s to exit before it is killed. In an MCP client configuration:
  "command": "mcpw", "args": ["run", "--mount", "/home/me/notes", "--", "npx", "@modelcontextprotocol/server-filesystem", "/mount"]`,
  async run(args) {
    // The sandbox's first half may already be running: bin/mcpw.js started it while this loaded.
    const early = takeFastStart(args.raw);
    let policy: Policy;
    try {
      if (args.rest.length === 0) throw new UsageError("mcpw run needs a command after --, e.g. mcpw run -- node server.js");
      policy = runPolicy(args, process.cwd());
    } catch (e) {
      if (early) abandon(early);
      throw e;
    }
    const cwd = process.cwd();
    const env = str(args.values.env) ?? process.env.MCPW_ENV ?? "dev";
    const stateDir = defaultStateDir();
    const auditPath = str(args.values.audit) ?? auditFileIn(stateDir);
    const countsStdout = policy.limits.stdoutBytes > 0;
    // The early start read the policy file without the schema; should it have guessed wrong, start again.
    if (early && early.countsStdout !== countsStdout) abandon(early);
    const start: RunStart = early && early.countsStdout === countsStdout ? early : startRunSandbox(args, args.raw, countsStdout);
    const { id, workspace } = start;
    // The embedded server and bridge are built while the sandbox boots; the sandbox's first
    // privileged request waits for them.
    let ready!: (e: Embedded) => void;
    let failed!: (e: unknown) => void;
    const starting = new Promise<Embedded>((res, rej) => ((ready = res), (failed = rej)));
    starting.catch(() => undefined);
    let launched;
    try {
      launched = await configureSandbox(start.prepared, {
        policy,
        command: args.rest,
        hostEnv: process.env,
        channel: {
          callOp: async (o, op, opts) => (await starting).server.router.call(o, op, opts),
          audit: (e) => void starting.then((s) => s.server.audit.write(e)),
        },
      });
    } catch (e) {
      abandon(start);
      throw e;
    }
    startEmbedded({ env, policy, auditPath, cwd }).then(ready, failed);
    const embedded = await starting.catch(async (e: unknown) => {
      await launched.process.stop(0);
      launched.dispose();
      removeMadeWorkspace(start);
      throw e;
    });
    if (launched.isolation.bubblewrap?.startsWith("MISSING")) {
      process.stderr.write(`mcpw: WARNING: running WITHOUT isolation (policy isolation "best-effort"): ${launched.isolation.bubblewrap}\n`);
    } else if (!args.values.quiet) {
      process.stderr.write(`mcpw: ${id} sandboxed (workspace ${workspace} at /mount, environment "${env}")\n`);
    }
    // stdin is the caller's own, so there is no stdin to close: a signal to mcpw is passed on to
    // the program, which gets STOP_GRACE_MS to finish; a second signal ends it at once.
    let signalled = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (signalled) return launched.process.kill();
      signalled = true;
      void launched.process.terminate(sig, STOP_GRACE_MS);
    };
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, onSignal);
    const { child } = launched;
    const watch = new LimitWatch(launched.process, policy.limits);
    const stderrTail = new Tail();
    child.stderr?.on("data", (chunk: Buffer) => {
      stderrTail.push(chunk);
      process.stderr.write(chunk);
    });
    child.stdout?.on("data", (chunk: Buffer) => {
      const pass = watch.stdout(chunk);
      if (pass.length > 0) process.stdout.write(pass);
    });
    const exit = await launched.process.exited;
    // What the sandbox wrote just before it ended may still be in the pipes. A process left
    // holding them (one that escaped the sandbox's tree in best-effort mode) is not waited for.
    if (!(await drained(child, 1000))) {
      process.stderr.write("mcpw: WARNING: the program has ended, but a process it left behind still holds its output; not waiting for it\n");
    }
    for (const s of [child.stdout, child.stderr]) s?.destroy();
    watch.dispose();
    launched.dispose();
    await embedded.close();
    // A workspace made for this run and left empty is not worth keeping (./mount/sb-… piled up).
    removeMadeWorkspace(start);
    const ended = exitReason(exit, policy.limits, { stopCause: watch.stopCause, stderrTail: stderrTail.toString() });
    const code = exit.signal ? 128 + (constants.signals[exit.signal] ?? 0) : (exit.code ?? 1);
    if (ended.limit === null) return code;
    process.stderr.write(`mcpw: stopped: ${ended.reason}\n`);
    return code === 0 ? 1 : code;
  },
};

/** Whether the child's stdio pipes closed within `ms` (a process left in best-effort mode may hold them). */
function drained(child: ChildProcess, ms: number): Promise<boolean> {
  const open = [child.stdout, child.stderr].filter((s) => s !== null && !s.closed);
  if (open.length === 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function auditFileIn(stateDir: string): string | null {
  try {
    return join(ensureStateDir(stateDir), "run-audit.jsonl");
  } catch {
    return null;
  }
}

/** The sandbox bin/mcpw.js started early for exactly this command line, if any. */
function takeFastStart(argv: string[]): RunStart | null {
  const g = globalThis as { __mcpwRunStart?: RunStart | null };
  const early = g.__mcpwRunStart ?? null;
  g.__mcpwRunStart = null;
  if (early && JSON.stringify(early.argv) === JSON.stringify(argv)) return early;
  if (early) abandon(early);
  return null;
}

/** Kills a started sandbox that will not be configured (it has run nothing) and removes what was made for it. */
function abandon(start: RunStart): void {
  start.prepared.abort();
  removeMadeWorkspace(start);
}
