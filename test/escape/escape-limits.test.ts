import t from "tap";
import { Host, probeCommand, record, runSandboxed, runUnsandboxed } from "./harness.js";

/**
 * The escape suite's resource bombs (issue 6): each goes to twice a limit, harmlessly bounded.
 * Without a sandbox it gets there (ESCAPED: the bomb works); under `mcpw run` with a policy that
 * sets the limit it does not, and mcpw's last word names the limit.
 */

interface Bomb {
  file: string;
  attack: string;
  limits: Record<string, number>;
  /** What mcpw prints: "mcpw: stopped: <this>". */
  stopped: RegExp;
  layer: "rlimit" | "supervisor";
  /** Extra targets for the probe (how far to go). */
  extra?: Record<string, number>;
}

const BOMBS: Bomb[] = [
  { file: "limits.py", attack: "fork-bomb", limits: { maxProcs: 32 }, stopped: /process limit \(maxProcs=32\)/, layer: "rlimit" },
  { file: "limits.py", attack: "memory-bomb", limits: { memMb: 256 }, stopped: /memory limit \(memMb=256\)/, layer: "rlimit" },
  { file: "limits.cjs", attack: "memory-bomb-node", limits: { memMb: 256 }, stopped: /memory limit \(memMb=256\)/, layer: "rlimit" },
  { file: "limits.py", attack: "huge-file", limits: { maxFileMb: 8 }, stopped: /file size limit \(maxFileMb=8\)/, layer: "rlimit" },
  { file: "limits.py", attack: "open-files", limits: { openFiles: 32 }, stopped: /open files limit \(openFiles=32\)/, layer: "rlimit" },
  { file: "limits.py", attack: "cpu-loop", limits: { cpuSeconds: 1 }, stopped: /cpu limit \(cpuSeconds=1\)/, layer: "rlimit" },
  { file: "limits.cjs", attack: "infinite-loop-node", limits: { timeoutMs: 1000 }, stopped: /timeout \(timeoutMs=1000\)/, layer: "supervisor", extra: { runMs: 3000 } },
  { file: "limits.cjs", attack: "stdout-flood-node", limits: { stdoutBytes: 65536 }, stopped: /stdout limit \(stdoutBytes=65536\)/, layer: "supervisor" },
];

const host = await Host.start();
t.teardown(() => host.close());

for (const b of BOMBS) {
  t.test(`${b.attack}: gets past ${JSON.stringify(b.limits)} without a sandbox, is stopped under mcpw run`, async (t) => {
    const targets = { ...b.limits, ...b.extra };
    const outside = await runUnsandboxed(host, probeCommand(b.file, [b.attack], targets), host.workspace());
    const o = outside.lines.get(b.attack);
    t.equal(o?.result, "ESCAPED", `the bomb works without a sandbox (${o?.detail ?? outside.stderr})`);
    const inside = await runSandboxed(host, probeCommand(b.file, [b.attack], targets), host.workspace(), { limits: b.limits });
    const i = inside.lines.get(b.attack);
    t.not(i?.result, "ESCAPED", `not past the limit under mcpw run (${i?.detail ?? "killed before it could say"})`);
    t.not(inside.code, 0, "mcpw run exits non-zero");
    const stopped = /mcpw: stopped: (.*)/.exec(inside.stderr)?.[1] ?? "";
    t.match(stopped, b.stopped, `mcpw names the limit (stderr: ${inside.stderr.slice(-600)})`);
    record({ attack: b.attack, file: b.file, layer: b.layer, unsandboxed: o?.detail ?? "", code: i?.code ?? "killed", detail: `mcpw: stopped: ${stopped}` });
  });
}
