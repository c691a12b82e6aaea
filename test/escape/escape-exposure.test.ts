import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import t from "tap";
import { MCPW } from "../helpers/python.js";
import { Host, PROBES, record, runSandboxed, runUnsandboxed } from "./harness.js";

/**
 * The escape suite's attacks on what `mcpw run` exposes around the program: the folder of a lone
 * script (directly in /tmp, or in a folder with no package marker, as ~/Downloads), and, inside a
 * real package, mcpw's own workspaces and a folder other users share. The probe is copied where
 * each attack needs it (exposure.py and exposure.cjs are self-contained), then run as elsewhere in
 * the suite: without a sandbox it must ESCAPE, under `mcpw run` it must be BLOCKED. Every target is
 * readable by the sandbox's uid, so what stops the attack is what mcpw binds, not file modes.
 */

const host = await Host.start();
t.teardown(() => host.close());

const token = `secret-${randomBytes(12).toString("hex")}`;
const made: string[] = [];
t.teardown(() => {
  for (const p of made) rmSync(p, { recursive: true, force: true });
});

/** A folder the sandbox's uid can read (mkdtemp makes them 0700). */
function dir(prefix: string): string {
  const d = mkdtempSync(prefix);
  chmodSync(d, 0o755);
  made.push(d);
  return d;
}

function secretFile(path: string): string {
  writeFileSync(path, `${token}\n`, { mode: 0o644 });
  chmodSync(path, 0o644);
  made.push(path);
  return path;
}

function copyProbe(ext: "py" | "cjs", to: string): string {
  copyFileSync(join(PROBES, `exposure.${ext}`), to);
  chmodSync(to, 0o644);
  made.push(to);
  return to;
}

// An echo socket directly in /tmp, connectable by anyone: what another sandbox's channel.sock (0666
// until run dirs were closed to other users, run-dir.ts) or the user's own agent socket looks like
// to a sandbox that sees the host's /tmp.
const tmpSocket = join(tmpdir(), `mcpw-escape-${randomBytes(4).toString("hex")}.sock`);
const echo: Server = createServer((c) => c.on("data", (d) => c.end(Buffer.concat([Buffer.from("ECHO:"), d]))).on("error", () => undefined));
await new Promise<void>((res) => echo.listen(tmpSocket, res));
chmodSync(tmpSocket, 0o666);
t.teardown(() => echo.close());

interface Scenario {
  what: string;
  /**
   * Where the probe is copied, which attacks it runs, where mcpw run starts and with what workspace.
   * With `direct`, the probe is the command itself (its `#!` line names the interpreter); `env` is
   * given to mcpw and to the unsandboxed run.
   */
  setup(ext: "py" | "cjs"): Promise<{ script: string; attacks: string[]; cwd: string; workspace: string | null; targets: object; program?: string; direct?: boolean; env?: Record<string, string> }>;
}

/**
 * A real sandbox's workspace: `mcpw run` from `cwd` (default workspace ./mount/<id>) writes the
 * secret into /mount/notes.txt; the workspace is kept because it is not empty. Returns that file's
 * host path.
 */
async function victimWorkspace(cwd: string): Promise<string> {
  const before = new Set(safeList(join(cwd, "mount")));
  const r = spawnSync(process.execPath, [MCPW, "run", "-q", "--", "node", "-e", "require('fs').writeFileSync('/mount/notes.txt', process.argv[1] + '\\n')", token], { cwd, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`the victim sandbox failed: ${r.stderr}`);
  const made = safeList(join(cwd, "mount")).filter((m) => !before.has(m) && m.startsWith("sb-"));
  if (made.length !== 1) throw new Error(`expected one new workspace in ${cwd}/mount, found ${made.join(", ")}`);
  return join(cwd, "mount", made[0]!, "notes.txt");
}

/**
 * A project with a package.json (and a pyproject.toml), another sandbox's workspace in its
 * ./mount/sb-victim0 and a world-writable, sticky shared/ folder, each holding a secret.
 */
function project(): { project: string; otherWorkspaceFile: string; sharedFile: string } {
  const project = dir("/var/tmp/mcpw-escape-project-");
  writeFileSync(join(project, "package.json"), '{"name": "escape-project", "private": true, "main": "server.cjs"}\n');
  writeFileSync(join(project, "pyproject.toml"), '[project]\nname = "escape-project"\n');
  const victim = join(project, "mount", "sb-victim0");
  mkdirSync(victim, { recursive: true, mode: 0o755 });
  const otherWorkspaceFile = secretFile(join(victim, "notes.txt"));
  const shared = join(project, "shared");
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
  const sharedFile = secretFile(join(shared, "left-by-another-user"));
  return { project, otherWorkspaceFile, sharedFile };
}

/**
 * A home directory with a per-user prefix, as pip, cargo and friends make them: the probe becomes
 * an executable in `~/.local/bin` (Python, run by a Python installed into ~/.local itself when this
 * machine's can be copied there, so what the program needs of ~/.local is exposed too) or
 * `~/.cargo/bin` (Node), with another application's secret in the same prefix.
 */
function perUserHome(ext: "py" | "cjs"): { home: string; script: string; userData: string } {
  const home = dir("/var/tmp/mcpw-escape-home-");
  const prefix = join(home, ext === "py" ? ".local" : ".cargo");
  mkdirSync(join(prefix, "bin"), { recursive: true, mode: 0o755 });
  let userData: string;
  if (ext === "py") {
    mkdirSync(join(prefix, "share", "keyrings"), { recursive: true, mode: 0o755 });
    userData = secretFile(join(prefix, "share", "keyrings", "login.keyring"));
  } else {
    userData = secretFile(join(prefix, "credentials.toml"));
  }
  const interpreter = ext === "py" ? perUserPython(prefix) : process.execPath;
  const script = join(prefix, "bin", "mcp-probe");
  writeFileSync(script, `#!${interpreter}\n${readFileSync(join(PROBES, `exposure.${ext}`), "utf8")}`, { mode: 0o755 });
  chmodSync(script, 0o755);
  return { home, script, userData };
}

/** This machine's Python copied into `<prefix>` (bin/python3.X, lib/python3.X), if it runs from there; else /usr/bin/python3. */
function perUserPython(prefix: string): string {
  const ask = spawnSync("/usr/bin/python3", ["-c", "import sys, sysconfig; print(sys.executable); print(sysconfig.get_paths()['stdlib'])"], { encoding: "utf8" });
  const [exe, stdlib] = ask.stdout.trim().split("\n");
  if (ask.status !== 0 || !exe || !stdlib || !stdlib.startsWith("/usr/")) return "/usr/bin/python3";
  const copy = join(prefix, "bin", basename(stdlib));
  copyFileSync(realpathSync(exe), copy);
  chmodSync(copy, 0o755);
  cpSync(stdlib, join(prefix, "lib", basename(stdlib)), { recursive: true, filter: (src) => !/\/(test|idlelib|tkinter|__pycache__)$/.test(src) });
  const works = spawnSync(copy, ["-c", "import sys, ctypes, json; print(sys.prefix)"], { encoding: "utf8" });
  return works.status === 0 && works.stdout.trim() === prefix ? copy : "/usr/bin/python3";
}

const SCENARIOS: Scenario[] = [
  {
    what: "a lone script directly in /tmp",
    async setup(ext) {
      const base = join(tmpdir(), `mcpw-escape-lone-${randomBytes(4).toString("hex")}`);
      const sibling = secretFile(`${base}.secret`);
      const script = copyProbe(ext, `${base}.${ext}`);
      const attacks = ["lone-script-tmp-socket", "lone-script-tmp-sibling"];
      return { script, attacks, cwd: host.workspace(), workspace: "", targets: { token, tmpSocket, sibling } };
    },
  },
  {
    what: "a lone script in a folder that is not a package (as ~/Downloads)",
    async setup(ext) {
      const d = dir("/var/tmp/mcpw-escape-downloads-");
      const sibling = secretFile(join(d, "id_ed25519"));
      const script = copyProbe(ext, join(d, `srv.${ext}`));
      return { script, attacks: ["lone-script-sibling"], cwd: host.workspace(), workspace: "", targets: { token, sibling } };
    },
  },
  {
    what: "a server in a real package, run from it (default workspace ./mount/<id>)",
    async setup(ext) {
      const { project: p, otherWorkspaceFile, sharedFile } = project();
      const script = copyProbe(ext, join(p, `server.${ext}`));
      return { script, attacks: ["package-other-workspace", "package-shared-folder"], cwd: p, workspace: null, targets: { token, otherWorkspaceFile, sharedFile } };
    },
  },
  {
    // The folder was handed to the sandbox whole as the "lone file", with nothing hidden.
    what: "a server in a real package, given as its folder (node . / python3 .)",
    async setup(ext) {
      const { project: p, otherWorkspaceFile } = project();
      const script = copyProbe(ext, join(p, ext === "py" ? "__main__.py" : "server.cjs"));
      return { script, program: ".", attacks: ["package-folder-other-workspace"], cwd: p, workspace: null, targets: { token, otherWorkspaceFile } };
    },
  },
  {
    // Only <cwd>/mount was hidden: run from proj/sub, proj/mount (a sandbox started from proj) was not.
    what: "a server run from a subfolder of its package, beside a sandbox started from the package",
    async setup(ext) {
      const { project: p } = project();
      mkdirSync(join(p, "sub"));
      chmodSync(join(p, "sub"), 0o755);
      const otherWorkspaceFile = await victimWorkspace(p);
      const script = copyProbe(ext, join(p, `server.${ext}`));
      return { script, program: `../server.${ext}`, attacks: ["package-parent-other-workspace"], cwd: join(p, "sub"), workspace: null, targets: { token, otherWorkspaceFile } };
    },
  },
  {
    // ... and the reverse: run from proj, proj/sub/mount (a sandbox started from proj/sub) was seen.
    what: "a server run from its package, beside a sandbox started from a subfolder of it",
    async setup(ext) {
      const { project: p } = project();
      mkdirSync(join(p, "sub"));
      chmodSync(join(p, "sub"), 0o755);
      const otherWorkspaceFile = await victimWorkspace(join(p, "sub"));
      const script = copyProbe(ext, join(p, `server.${ext}`));
      return { script, attacks: ["package-subfolder-other-workspace"], cwd: p, workspace: null, targets: { token, otherWorkspaceFile } };
    },
  },
  {
    // The program's install tree was all of ~/.local (or ~/.cargo): every application's data.
    what: "a program in a per-user prefix (~/.local/bin, ~/.cargo/bin)",
    async setup(ext) {
      const { home, script, userData } = perUserHome(ext);
      return { script, direct: true, attacks: ["per-user-tree-data"], cwd: host.workspace(), workspace: "", targets: { token, userData }, env: { HOME: home } };
    },
  },
];

for (const s of SCENARIOS) {
  for (const ext of ["py", "cjs"] as const) {
    t.test(`${s.what} (${ext}): escapes without a sandbox, sees only what it should under mcpw run`, async (t) => {
      const setup = await s.setup(ext);
      const attacks = setup.attacks.map((a) => (ext === "cjs" ? `${a}-node` : a));
      const command = [...(setup.direct ? [] : [ext === "py" ? "python3" : "node"]), setup.program ?? setup.script, attacks.join(","), JSON.stringify(setup.targets)];
      const outside = await runUnsandboxed(host, command, setup.cwd, 60_000, setup.env);
      const workspace = setup.workspace === "" ? setup.cwd : setup.workspace;
      const before = new Set(safeList(join(setup.cwd, "mount")));
      const inside = await runSandboxed(host, command, workspace, null, 60_000, setup.cwd, [], setup.env);
      // The default workspace mcpw made for the run.
      for (const m of safeList(join(setup.cwd, "mount"))) if (!before.has(m)) made.push(join(setup.cwd, "mount", m));
      for (const name of attacks) {
        const o = outside.lines.get(name);
        const i = inside.lines.get(name);
        t.equal(o?.result, "ESCAPED", `${name}: the probe works without a sandbox (${o?.code ?? "no line"}: ${o?.detail ?? outside.stderr})`);
        t.equal(i?.result, "BLOCKED", `${name}: blocked under mcpw run (${i?.detail ?? inside.stderr})`);
        t.equal(i?.code, "ENOENT", `${name}: answered ENOENT (namespaces (bwrap view))`);
        record({ attack: name, file: `exposure.${ext}`, layer: "namespaces (bwrap view)", unsandboxed: o?.detail ?? "", code: i?.code ?? null, detail: i?.detail ?? "" });
      }
    });
  }
}

function safeList(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}
