import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { appendFileSync, chmodSync, closeSync, existsSync, mkdtempSync, openSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { MCPW, ROOT } from "../helpers/python.js";
import { sandboxWorkspace, startTestServer, tempDir, type TestServer } from "../helpers/server.js";

/**
 * The escape suite's harness. Each probe file (test/escape/probes) runs a list of attacks and prints
 * one JSON line per attack: {attack, result: ESCAPED | BLOCKED, code, detail}. Every list runs twice
 * against the same host targets: without any sandbox, where each attack must ESCAPE (a test of the
 * probe itself), then under `mcpw run`, where it must be BLOCKED, with the code the layer named for
 * it answers with.
 */

export const PROBES = join(ROOT, "test", "escape", "probes");
export const IS_ROOT = process.getuid?.() === 0;

export interface ProbeLine {
  attack: string;
  result: "ESCAPED" | "BLOCKED" | "ERROR";
  code: string | null;
  detail: string;
}

export interface ProbeRun {
  code: number | null;
  lines: Map<string, ProbeLine>;
  stdout: string;
  stderr: string;
}

/** Host-side things the attacks aim at; all owned by the test, all on 127.0.0.1 / ::1 or in temp dirs. */
export interface Targets {
  token: string;
  secret: string;
  secretDir: string;
  secretName: string;
  payload: string;
  plantedLink: string;
  hostDir: string;
  runDir: string;
  tcpPort: number;
  tcp6Port: number;
  udpPort: number;
  dnsPort: number;
  serverPort: number;
  abstractName: string;
  unixSocket: string;
  canary: string;
  pid: number;
  marker: string;
  /** A host process the test owns, whose /proc/<pid>/root an attack climbs through. */
  rootPid: number;
  /** /proc/sysrq-trigger, or a test-owned file standing in for it where the host has none. */
  sysrqTrigger: string;
}

export class Host {
  readonly canary = `mcpw-canary-${randomBytes(8).toString("hex")}`;
  readonly marker = `mcpw-escape-victim-${randomBytes(4).toString("hex")}`;
  private readonly closers: (() => unknown)[] = [];
  private victim: ChildProcess | null = null;
  base!: Omit<Targets, "pid" | "runDir" | "rootPid" | "sysrqTrigger">;
  /** The file given to probes as stdin (read-only), and the directory fd they inherit as fd 3. */
  stdinFile!: string;
  dirFd!: number;

  static async start(): Promise<Host> {
    const h = new Host();
    await h.setUp();
    return h;
  }

  private async setUp(): Promise<void> {
    const secretDir = tempDir("mcpw-escape-secret-", "/var/tmp");
    const token = `secret-${randomBytes(12).toString("hex")}`;
    writeFileSync(join(secretDir, "key"), `${token}\n`, { mode: 0o600 });
    this.closers.push(() => tempCleanup(secretDir));
    const hostDir = tempDir("mcpw-escape-host-", "/var/tmp");
    this.closers.push(() => tempCleanup(hostDir));
    this.stdinFile = join(hostDir, "stdin.txt");
    // Writable by anyone, so that the sandbox's uid is not what stops reopening it for writing.
    writeFileSync(this.stdinFile, "stdin of the probe\n");
    chmodSync(this.stdinFile, 0o666);
    this.dirFd = openSync(secretDir, "r");
    this.closers.push(() => closeSync(this.dirFd));

    const echo = (s: Server) => s.on("connection", (c) => c.on("data", (d) => c.end(Buffer.concat([Buffer.from("ECHO:"), d]))).on("error", () => undefined));
    const tcp = await listening(echo(createServer()), { port: 0, host: "127.0.0.1" });
    const tcp6 = await listening(echo(createServer()), { port: 0, host: "::1" });
    const abstractName = `mcpw-escape-${randomBytes(4).toString("hex")}`;
    await listening(echo(createServer()), { path: `\0${abstractName}` }).then((s) => this.closers.push(() => s.close()));
    const unixSocket = join(hostDir, "host.sock");
    await listening(echo(createServer()), { path: unixSocket }).then((s) => this.closers.push(() => s.close()));
    this.closers.push(() => tcp.close(), () => tcp6.close());

    const udp = createSocket("udp4").on("message", (m, r) => udp.send(Buffer.concat([Buffer.from("ECHO:"), m]), r.port, r.address));
    // A DNS server that answers every A question with 127.0.0.1.
    const dns = createSocket("udp4").on("message", (q, r) => {
      const answer = Buffer.concat([q.subarray(0, 2), Buffer.from([0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]), q.subarray(12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1])]);
      dns.send(answer, r.port, r.address);
    });
    for (const s of [udp, dns]) {
      await new Promise<void>((res) => s.bind(0, "127.0.0.1", res));
      this.closers.push(() => s.close());
    }
    const server: TestServer = await startTestServer();
    this.closers.push(() => server.close());

    this.base = {
      token,
      secret: join(secretDir, "key"),
      secretDir,
      secretName: "key",
      payload: `p${randomBytes(6).toString("hex")}`,
      plantedLink: "planted-link",
      hostDir,
      tcpPort: port(tcp),
      tcp6Port: port(tcp6),
      udpPort: udp.address().port,
      dnsPort: dns.address().port,
      serverPort: Number(new URL(server.url).port),
      abstractName,
      unixSocket,
      canary: this.canary,
      marker: this.marker,
    };
  }

  /** A fresh host process to see and to signal (the attacks may kill the previous one). */
  freshVictim(): number {
    this.victim?.kill("SIGKILL");
    this.victim = spawn(process.execPath, ["-e", "setInterval(() => {}, 1e6)", this.marker], { stdio: "ignore" });
    return this.victim.pid!;
  }

  victimAlive(): boolean {
    return this.victim !== null && this.victim.exitCode === null && this.victim.signalCode === null;
  }

  /**
   * The targets of one run: the shared ones, a fresh victim process, and fresh directories to
   * write into (an unsandboxed run really writes there). Inside a sandbox the run directory is
   * /run/mcpw; outside, a test-owned directory stands in for it.
   */
  targets(sandboxed: boolean): Targets {
    const hostDir = mkdtempSync(join(this.base.hostDir, "w-"));
    const sysrqTrigger = sandboxed || existsSync("/proc/sysrq-trigger") ? "/proc/sysrq-trigger" : join(hostDir, "sysrq-trigger-stand-in");
    if (!sandboxed) writeFileSync(join(hostDir, "sysrq-trigger-stand-in"), "", { mode: 0o200 });
    return { ...this.base, hostDir, sysrqTrigger, rootPid: process.pid, runDir: sandboxed ? "/run/mcpw" : mkdtempSync(join(this.base.hostDir, "run-")), pid: this.freshVictim() };
  }

  /** A workspace with a symlink planted in it, pointing at the secret's host path. */
  workspace(): string {
    const ws = sandboxWorkspace("mcpw-escape-ws-");
    symlinkSync(this.base.secret, join(ws, "planted-link"));
    return ws;
  }

  async close(): Promise<void> {
    this.victim?.kill("SIGKILL");
    for (const c of this.closers.reverse()) await c();
  }
}

function tempCleanup(dir: string): void {
  void import("node:fs").then((fs) => fs.rmSync(dir, { recursive: true, force: true }));
}

function listening(s: Server, opts: { port?: number; host?: string; path?: string }): Promise<Server> {
  return new Promise((res, rej) => {
    s.once("error", rej);
    s.listen(opts, () => res(s));
  });
}

function port(s: Server): number {
  return (s.address() as { port: number }).port;
}

/** The interpreter for a probe file. */
export function probeCommand(file: string, attacks: string[], targets: object): string[] {
  const runtime = file.endsWith(".py") ? "python3" : "node";
  return [runtime, join(PROBES, file), attacks.join(","), JSON.stringify(targets)];
}

function collect(child: ChildProcess, timeoutMs: number): Promise<ProbeRun> {
  return new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("close", (code) => {
      clearTimeout(timer);
      const lines = new Map<string, ProbeLine>();
      for (const l of stdout.split("\n")) {
        if (!l.startsWith("{")) continue;
        try {
          const p = JSON.parse(l) as ProbeLine;
          lines.set(p.attack, p);
        } catch {
          // a partial line (the process was killed mid-write)
        }
      }
      resolve({ code, lines, stdout: stdout.slice(0, 4000), stderr: stderr.slice(-4000) });
    });
  });
}

/**
 * Runs `command` with no sandbox, under a shell the test owns (so "the parent" an attack aims at is
 * ours), in a fresh directory, with the same stdin file, inherited fd 3 and environment canary the
 * sandboxed run gets, and `env` over the test's own environment.
 */
export function runUnsandboxed(host: Host, command: string[], cwd: string, timeoutMs = 60_000, env: Record<string, string> = {}): Promise<ProbeRun> {
  const stdin = openSync(host.stdinFile, "r");
  const child = spawn("/bin/sh", ["-c", '"$@"; exit $?', "sh", ...command], {
    cwd,
    env: { ...process.env, ...env, MCPW_ESCAPE_CANARY: host.canary },
    stdio: [stdin, "pipe", "pipe", host.dirFd],
  });
  closeSync(stdin);
  return collect(child, timeoutMs);
}

/**
 * `mcpw run -q --mount <workspace> [--policy <file>] [extraFlags] -- <command>`, given the same
 * stdin, fd 3 and canary, and `env` over the test's own environment (mcpw's: HOME, for one). With
 * `workspace` null, no --mount: mcpw makes its default ./mount/<id> in `cwd`.
 */
export function runSandboxed(host: Host, command: string[], workspace: string | null, policy: object | null, timeoutMs = 60_000, cwd = workspace, extraFlags: string[] = [], env: Record<string, string> = {}): Promise<ProbeRun> {
  if (cwd === null) throw new Error("runSandboxed: a cwd is needed without a workspace");
  const flags = ["run", "-q", ...(workspace ? ["--mount", workspace] : []), ...extraFlags];
  if (policy) {
    const file = join(tempDir("mcpw-escape-policy-"), "policy.json");
    writeFileSync(file, JSON.stringify(policy));
    flags.push("--policy", file);
  }
  const stdin = openSync(host.stdinFile, "r");
  const child = spawn(process.execPath, [MCPW, ...flags, "--", ...command], {
    cwd,
    env: { ...process.env, ...env, MCPW_ESCAPE_CANARY: host.canary },
    stdio: [stdin, "pipe", "pipe", host.dirFd],
  });
  closeSync(stdin);
  return collect(child, timeoutMs);
}

/** The layers an attack can be stopped by, as named in docs/escape-suite.md. */
export type Layer = "namespaces (bwrap view)" | "landlock" | "seccomp" | "uid" | "rlimit" | "supervisor" | "interceptor" | "net namespace" | "bridge policy";

/** With MCPW_ESCAPE_REPORT=<file>, each attack's two results are appended there (docs/escape-suite.md is made from it). */
export function record(entry: { attack: string; file: string; layer: string; unsandboxed: string; code: string | null; detail: string }): void {
  const file = process.env.MCPW_ESCAPE_REPORT;
  if (file) appendFileSync(file, `${JSON.stringify(entry)}\n`);
}
