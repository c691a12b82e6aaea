import { randomBytes } from "node:crypto";
import { readlinkSync } from "node:fs";
import { constants as osConstants } from "node:os";
import type { IPty } from "node-pty";
import { importModule } from "../client/import-module.js";
import { SPEC_ENV } from "../native/sandbox-init-spec.js";
import { McpwError } from "../protocol/errors.js";
import type { Params, Result } from "../protocol/methods.js";
import type { MuxStream } from "../protocol/streams.js";
import { SANDBOX_PATHS } from "../wrapper/bwrap-args.js";
import { findExecutableOrNull } from "../native/find-executable.js";
import type { LaunchedSandbox } from "../wrapper/launcher.js";
import type { AuditLog } from "./audit-log.js";
import type { Connection } from "./connection.js";
import { childrenOf, idInsideNamespace, processTree, readIds, readStat } from "./procfs.js";
import type { SandboxRegistry } from "./sandbox-registry.js";

/**
 * `sandbox.exec`: a command (default /bin/sh) on a pty, inside a running sandbox — the
 * `docker exec -it` of mcpw. The pty's bytes travel over a multiplexed stream on the client's own
 * connection (so its window/ACK flow control applies), window-size changes come as
 * `sandbox.exec.resize`, and the exit status goes to that connection as `sandbox.exec.exit` just
 * before the stream ends.
 *
 * How the command enters the sandbox (every step is an argument of enterSandboxArgv):
 *  1. nsenter --target <namespace init> joins the sandbox's user, mount, pid, net, ipc, uts and
 *     cgroup namespaces, takes the init's root directory (bubblewrap's new root) and starts in
 *     /mount. Only namespaces that differ from the server's are entered, and a sandbox without its
 *     own user, mount, pid and net namespaces (best-effort mode, no bubblewrap) is refused: that
 *     would be a shell on the host.
 *  2. --setuid/--setgid: the ids the sandboxed program has inside its user namespace. As root, the
 *     program also holds its sandbox's own supplementary group, the group of its run dir
 *     (wrapper/run-dir.ts), and the command needs it too: the sandbox's node reads
 *     /run/mcpw/config.json and speaks on its channel. nsenter would drop it (setgroups(0) before it
 *     joins the user namespace, where setgroups is denied), so setpriv --groups sets the program's
 *     host groups first and nsenter --preserve-credentials leaves them: it then only changes
 *     uid and gid, to the ones given.
 *  3. setpriv drops what joining a user namespace grants (a full capability set in it):
 *     inheritable and ambient sets emptied, and no_new_privs set. Its --bounding-set=-all empties
 *     the bounding set only where the sandbox's uid is its namespace's root; otherwise the set
 *     stays full: entering a user namespace refills it, and nsenter switches to that uid (losing
 *     CAP_SETPCAP) before anything else runs (checked: util-linux 2.38 has no way around it). With
 *     no_new_privs and no mapped root, nothing can be regained through it, and creating a user
 *     namespace (the one way to a full set) is refused by the seccomp filter of step 6.
 *  4. The environment is the sandbox's program's (nothing from the host but what policy.env
 *     passes), plus TERM; `env -u PWD` drops the host cwd node-pty puts there.
 *  5. script gives the command a session and a controlling terminal of its own inside the sandbox
 *     (sandboxTerminalArgv), so job control works in the sandbox's pid namespace.
 *  6. kernelLayersFor(): the sandbox's seccomp filter, landlock rules and rlimits
 *     (native/sandbox-init) are applied to what runs inside, as they are to the sandbox.
 */

/** A command to run inside the sandbox: argv (looked up in the sandbox's PATH) and its whole environment. */
export interface InSandboxCommand {
  argv: string[];
  env: Record<string, string>;
}

/** Wraps a command so that the sandbox's kernel layers apply to it before it runs. */
export type KernelLayers = (cmd: InSandboxCommand) => InSandboxCommand;

/**
 * The sandbox's own kernel layers for a command entering it: sandbox-init (as the sandbox sees
 * it) with the spec the sandbox was started with — the same landlock trees, seccomp filter and
 * rlimits — and the command as its target; no helpers (the sandbox's proxy already runs). One
 * difference, for the admin's debugging shell: landlock's executeOnly list (the program, Node and
 * exec.allow) is lifted, so the shell can run the tools of the runtime trees it may read (ls, ps,
 * cat); every other landlock rule, the seccomp filter and the uid stay.
 */
export function kernelLayersFor(launched: Pick<LaunchedSandbox, "sandboxInit">): KernelLayers {
  const { node, initScript, spec } = launched.sandboxInit;
  const landlock = spec.landlock && { ...spec.landlock, executeOnly: undefined };
  return (cmd) => ({ argv: [node, initScript, "--", ...cmd.argv], env: { [SPEC_ENV]: JSON.stringify({ ...spec, landlock, env: cmd.env, helpers: [] }) } });
}

/** nsenter option ↔ /proc/<pid>/ns entry, in the order nsenter joins them. */
const NAMESPACES = [
  ["user", "user"],
  ["mount", "mnt"],
  ["pid", "pid"],
  ["net", "net"],
  ["ipc", "ipc"],
  ["uts", "uts"],
  ["cgroup", "cgroup"],
] as const;
const REQUIRED = ["user", "mount", "pid", "net"];

export interface SandboxTarget {
  /** Host pid of the sandbox's pid-namespace init. */
  pid: number;
  /** nsenter options of the namespaces to join. */
  namespaces: string[];
  /** Ids inside the sandbox's user namespace. */
  uid: number;
  gid: number;
  /** Host supplementary gids the program holds, which the command gets too (none: it gets none). */
  groups: number[];
}

export interface HostTools {
  nsenter: string;
  setpriv: string;
  env: string;
  script: string;
}

/** Quotes one argument for sh. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}

/**
 * Runs `argv` as the leader of a new session on a pty of the sandbox's own (script, from
 * util-linux, on bubblewrap's /dev/pts). The pty node-pty gives us belongs to a session whose
 * leader, nsenter, lives in the host's pid namespace; a shell using it directly for job control
 * sees a foreground process group that does not exist in its namespace ("Cannot set tty process
 * group"). script relays bytes and window-size changes between the two.
 */
export function sandboxTerminalArgv(tools: HostTools, argv: string[]): string[] {
  return [tools.script, "--quiet", "--return", "--flush", "--command", `exec ${argv.map(shellQuote).join(" ")}`, "/dev/null"];
}

/** The argv that runs `inner` inside the sandbox `t` (see the steps above). */
export function enterSandboxArgv(t: SandboxTarget, tools: HostTools, inner: string[]): string[] {
  const groups = t.groups.length ? [tools.setpriv, "--groups", t.groups.join(","), "--"] : [];
  return [
    ...groups,
    tools.nsenter,
    `--target=${t.pid}`,
    ...t.namespaces.map((n) => `--${n}`),
    "--root",
    `--wdns=${SANDBOX_PATHS.mount}`,
    ...(t.groups.length ? ["--preserve-credentials"] : []),
    `--setuid=${t.uid}`,
    `--setgid=${t.gid}`,
    "--",
    tools.setpriv,
    "--no-new-privs",
    "--inh-caps=-all",
    "--ambient-caps=-all",
    "--bounding-set=-all",
    "--",
    tools.env,
    "-u",
    "PWD",
    "--",
    ...inner,
  ];
}

/** Finds nsenter, setpriv and script (util-linux) and env (coreutils) under /usr, which every sandbox binds read-only. */
export function hostTools(): HostTools {
  const dirs = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"];
  const find = (name: string, pkg: string) => {
    const path = findExecutableOrNull(name, dirs);
    if (!path) throw new McpwError("internal", `sandbox exec needs ${name} (${pkg}), which is not installed on the server`);
    return path;
  };
  return { nsenter: find("nsenter", "util-linux"), setpriv: find("setpriv", "util-linux"), env: find("env", "coreutils"), script: find("script", "util-linux or bsdutils") };
}

/**
 * The sandboxed program: the first child of bubblewrap's init. bubblewrap reports the init's pid
 * as soon as it is cloned, before it has built the new root; it forks the program once the
 * sandbox is set up, so a child means the namespaces are ready to be joined.
 */
export async function sandboxProgram(id: string, init: number, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const child = childrenOf(init)[0];
    if (child !== undefined) return child;
    if (readStat(init) === null) throw new McpwError("conflict", `sandbox ${id} has ended`);
    if (Date.now() > deadline) throw new McpwError("conflict", `sandbox ${id} is still being set up; try again`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Which namespaces to join and as whom, for the sandbox whose namespace init is `init` and program `program`. */
export function sandboxTarget(id: string, init: number, program: number): SandboxTarget {
  const ns = (pid: number | "self", name: string) => {
    try {
      return readlinkSync(`/proc/${pid}/ns/${name}`);
    } catch {
      return null;
    }
  };
  const namespaces: string[] = [];
  for (const [option, name] of NAMESPACES) {
    const theirs = ns(init, name);
    if (theirs === null) throw new McpwError("conflict", `sandbox ${id} has ended (its namespace init ${init} is gone)`);
    if (theirs !== ns("self", name)) namespaces.push(option);
  }
  const missing = REQUIRED.filter((n) => !namespaces.includes(n));
  if (missing.length) throw new McpwError("conflict", `sandbox ${id} shares the server's ${missing.join(", ")} namespace(s); mcpw will not exec there`);
  const ids = readIds(program);
  const uid = ids && idInsideNamespace(init, "uid", ids.uid);
  const gid = ids && idInsideNamespace(init, "gid", ids.gid);
  if (uid === null || uid === undefined || gid === null || gid === undefined) {
    throw new McpwError("conflict", `cannot tell which user sandbox ${id} runs as (process ${program} is gone or unmapped)`);
  }
  // As root (the one case where nsenter can be given groups), the program's own: its run group.
  const groups = process.getuid?.() === 0 ? ids!.groups : [];
  return { pid: init, namespaces, uid, gid, groups };
}

/** The sandbox's own environment (the one its program was started with), plus TERM. */
export function execEnv(launched: Pick<LaunchedSandbox, "sandboxInit">, term: string): Record<string, string> {
  return { ...launched.sandboxInit.spec.env, TERM: term };
}

interface ExecSession {
  id: string;
  sandbox: string;
  conn: Connection;
  pty: IPty;
  stream: MuxStream;
  exited: boolean;
  hungUp: boolean;
  /** Client input held back until the terminal is set up (see wire()); null once it flows. */
  held: (Buffer | "eof")[] | null;
}

/** The longest client input waits for the terminal inside to be ready (see wire()). */
const INPUT_HOLD_MS = 1000;
/** A hung-up session's processes get this long after SIGHUP before SIGKILL. */
const HANGUP_GRACE_MS = 2000;

/** node-pty (a native addon) loads on the first exec, not with every mcpw command. */
let ptyModule: Promise<typeof import("node-pty")> | null = null;
const nodePty = () => (ptyModule ??= importModule<typeof import("node-pty")>("node-pty"));

const SIGNAL_NAMES = new Map(Object.entries(osConstants.signals).map(([name, n]) => [n, name]));

export class ExecSessions {
  private readonly sessions = new Map<string, ExecSession>();
  private readonly watched = new WeakSet<Connection>();
  private tools: HostTools | null = null;

  constructor(
    private readonly sandboxes: Pick<SandboxRegistry, "runtime">,
    private readonly audit: AuditLog,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  async start(conn: Connection, p: Params<"sandbox.exec">): Promise<Result<"sandbox.exec">> {
    if (p.stream % 2 !== 1) throw new McpwError("bad_params", "stream ids of a client's streams are odd (open the stream from the client's own range)", { field: "params.stream" });
    if (conn.peer.streams.has(p.stream)) throw new McpwError("conflict", `stream ${p.stream} is already in use on this connection`, { field: "params.stream" });
    const rt = this.sandboxes.runtime(p.id);
    const init = await rt.launched.process.namespaceInit;
    if (init === null) {
      throw new McpwError("conflict", `sandbox ${p.id} runs without bubblewrap's namespaces (best-effort isolation); mcpw will not open a shell on the host`);
    }
    this.tools ??= hostTools();
    const target = sandboxTarget(p.id, init, await sandboxProgram(p.id, init));
    const terminal = sandboxTerminalArgv(this.tools, p.command.length ? p.command : ["/bin/sh"]);
    const cmd = kernelLayersFor(rt.launched)({ argv: terminal, env: execEnv(rt.launched, p.term) });
    const argv = enterSandboxArgv(target, this.tools, cmd.argv);
    const stream = conn.peer.streams.open(p.stream);
    let pty: IPty;
    try {
      pty = (await nodePty()).spawn(argv[0]!, argv.slice(1), { name: p.term, cols: p.cols, rows: p.rows, cwd: "/", env: cmd.env, encoding: null });
    } catch (e) {
      stream.destroy();
      throw new McpwError("internal", `cannot start ${argv[0]}: ${(e as Error).message}`);
    }
    const s: ExecSession = { id: `ex_${randomBytes(6).toString("hex")}`, sandbox: p.id, conn, pty, stream, exited: false, hungUp: false, held: [] };
    this.sessions.set(s.id, s);
    this.audit.write({ event: "sandbox.exec", verdict: "info", sandbox: p.id, execId: s.id, command: (p.command.length ? p.command : ["/bin/sh"]).join(" ").slice(0, 300), uid: target.uid, by: conn.tokenId });
    this.wire(s);
    if (!this.watched.has(conn)) {
      this.watched.add(conn);
      void conn.peer.closed().then(() => {
        for (const x of this.sessions.values()) if (x.conn === conn) this.hangUp(x);
      });
    }
    return { execId: s.id, pid: pty.pid };
  }

  resize(conn: Connection, p: Params<"sandbox.exec.resize">): Result<"sandbox.exec.resize"> {
    const s = this.sessions.get(p.execId);
    if (!s || s.conn !== conn) throw new McpwError("not_found", `no exec session ${p.execId} on this connection`, { field: "params.execId" });
    if (!s.exited) s.pty.resize(p.cols, p.rows);
    return { ok: true };
  }

  private wire(s: ExecSession): void {
    const { pty, stream } = s;
    // Until script has switched our pty to raw mode, input would be echoed by its line discipline
    // and an end-of-file character eaten by it. script does that before it starts the command, so
    // the first output means input may flow; a command that prints nothing gets it after a moment.
    const input = (item: Buffer | "eof") => {
      if (s.exited) return;
      if (s.held) s.held.push(item);
      else pty.write(item === "eof" ? "\x04" : item);
    };
    const release = () => {
      const held = s.held;
      s.held = null;
      for (const item of held ?? []) input(item);
    };
    setTimeout(release, INPUT_HOLD_MS).unref();
    pty.onData((data: string | Buffer) => {
      if (s.held) release();
      if (s.exited || stream.destroyed) return;
      // The stream's window is the back-pressure: a client that does not read pauses the pty.
      if (!stream.write(typeof data === "string" ? Buffer.from(data) : data)) {
        pty.pause();
        stream.once("drain", () => pty.resume());
      }
    });
    stream.on("data", (chunk: Buffer) => input(chunk));
    // The client's input ended (e.g. piped stdin ran out): an end-of-file character, as a terminal would send.
    stream.on("end", () => input("eof"));
    stream.on("error", () => this.hangUp(s));
    stream.on("close", () => this.hangUp(s));
    // node-pty reports the exit once the pty has been read to its end, so the output is all in the stream.
    pty.onExit(({ exitCode, signal }) => {
      s.exited = true;
      this.sessions.delete(s.id);
      const sig = signal ? (SIGNAL_NAMES.get(signal) ?? String(signal)) : null;
      const code = sig ? null : exitCode;
      this.audit.write({ event: "sandbox.exec.exit", verdict: "info", sandbox: s.sandbox, execId: s.id, code, signal: sig });
      s.conn.peer.notify("sandbox.exec.exit", { execId: s.id, code, signal: sig });
      if (!stream.destroyed) stream.end();
    });
  }

  /**
   * The client went away: SIGHUP to the session's processes (nsenter, script, the shell and what it
   * started), then SIGKILL to those of them still there after the grace period. They are taken
   * once, as pid and start time, because once nsenter is gone its children are no longer below it.
   */
  private hangUp(s: ExecSession): void {
    if (s.exited || s.hungUp) return;
    s.hungUp = true;
    const procs = processTree([s.pty.pid])
      .reverse()
      .map((pid) => ({ pid, start: readStat(pid)?.startTime }));
    const signal = (sig: NodeJS.Signals) => {
      for (const p of procs) {
        if (p.start === undefined || readStat(p.pid)?.startTime !== p.start) continue; // gone, or the pid is another process now
        try {
          process.kill(p.pid, sig);
        } catch {
          // gone already
        }
      }
    };
    signal("SIGHUP");
    setTimeout(() => signal("SIGKILL"), HANGUP_GRACE_MS).unref();
  }
}
