// Builds what runs inside a sandbox into dist/sandbox/ (bound read-only at /opt/mcpw):
// the Node preload as one dependency-free CommonJS file, and the Python sitecustomize.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "sandbox");
mkdirSync(out, { recursive: true });
for (const [entry, file] of [
  ["preload.ts", "node-preload.cjs"],
  ["exec-shim.ts", "exec-via-bridge.cjs"],
]) {
  await build({
    entryPoints: [join(root, "wrapper", "node", entry)],
    outfile: join(out, file),
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    logLevel: "warning",
  });
}
const python = join(out, "python");
rmSync(python, { recursive: true, force: true });
cpSync(join(root, "wrapper", "python"), python, { recursive: true, filter: (src) => !src.includes("__pycache__") });
// /opt/mcpw is read-only inside a sandbox, so Python cannot cache bytecode there: without these
// .pyc files every Python process would compile the interceptors again (~10 ms). Best effort, for
// each interpreter found here (each version gets its own cpython-3XY.pyc).
for (const interpreter of ["python3", "/usr/bin/python3"]) {
  try {
    execFileSync(interpreter, ["-m", "compileall", "-q", python], { stdio: "ignore" });
  } catch {
    // that interpreter is not installed
  }
}
