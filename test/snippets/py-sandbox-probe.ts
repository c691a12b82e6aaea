/**
 * What a snippet that escaped Pyodide's realm would do with the process's own Node, run in a
 * Pyodide sandbox by py-escape.test.ts (and first without one, where every attempt must work):
 * `node py-sandbox-probe.js '{"secretFile": ..., "port": ...}'` prints one JSON object, each
 * attempt as {ok: true, value} or {ok: false, code, message}. The `*-binding` attempts go under
 * the Node preload's interceptors (process.binding), so what stops them is the kernel's layers.
 */
import { execSync } from "node:child_process";
import { constants, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { constants as os, hostname, networkInterfaces } from "node:os";
import { dirname, join } from "node:path";

type Outcome = { ok: true; value: unknown } | { ok: false; code: string; message: string };
const targets = JSON.parse(process.argv[2]!) as { secretFile: string; port: number };
const binding = (process as unknown as { binding(name: string): any }).binding;

async function attempt(f: () => unknown): Promise<Outcome> {
  try {
    return { ok: true, value: await f() };
  } catch (e) {
    const err = e as { code?: string; message?: string };
    return { ok: false, code: String(err.code ?? "ERROR"), message: String(err.message ?? e).slice(0, 300) };
  }
}

function spawnByBinding(file: string): string {
  const r = binding("spawn_sync").spawn({ file, args: [file], envPairs: [], stdio: [{ type: "pipe", readable: true, writable: false }, { type: "pipe", readable: false, writable: true }, { type: "pipe", readable: false, writable: true }] });
  if (r.error) {
    const code = Object.keys(os.errno).find((k) => (os.errno as Record<string, number>)[k] === -r.error) ?? String(r.error);
    throw Object.assign(new Error(`spawn_sync ${file}: ${code}`), { code });
  }
  return String(r.output[1]);
}

function readByBinding(path: string): string {
  const b = binding("fs");
  const fd = b.open(path, constants.O_RDONLY, 0);
  const buf = Buffer.alloc(4096);
  return buf.subarray(0, b.read(fd, buf, 0, buf.length, 0)).toString();
}

function connectHost(): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(targets.port, "127.0.0.1");
    const timer = setTimeout(() => {
      s.destroy();
      reject(Object.assign(new Error("no answer within 3 s"), { code: "NO_REPLY" }));
    }, 3000);
    s.on("data", (d) => {
      clearTimeout(timer);
      s.destroy();
      resolve(`connected: ${d}`);
    });
    s.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

const report: Record<string, Outcome> = {
  uid: await attempt(() => process.getuid!()),
  hostname: await attempt(() => hostname()),
  interfaces: await attempt(() => Object.keys(networkInterfaces()).sort()),
  "exec-child-process": await attempt(() => execSync("id", { encoding: "utf8" })),
  "exec-binding": await attempt(() => spawnByBinding("/usr/bin/id")),
  "read-fs": await attempt(() => readFileSync(targets.secretFile, "utf8")),
  "read-binding": await attempt(() => readByBinding(targets.secretFile)),
  "write-host": await attempt(() => writeFileSync(join(dirname(targets.secretFile), "pwned-by-probe"), "x", { flag: "wx" })),
  "connect-host": await attempt(connectHost),
  eval: await attempt(() => eval("1 + 1")),
};
process.stdout.write(`${JSON.stringify(report)}\n`);
