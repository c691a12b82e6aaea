// Builds what runs inside a sandbox into dist/sandbox/ (bound read-only at /opt/mcpw):
// the Node preload as one dependency-free CommonJS file, and the Python sitecustomize.
import { build } from "esbuild";
import { cpSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "sandbox");
mkdirSync(out, { recursive: true });
for (const [entry, file] of [
  ["preload.ts", "node-preload.cjs"],
  ["exec-shim.ts", "exec-via-bridge.cjs"],
  ["proxy.ts", "proxy.cjs"],
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
cpSync(join(root, "wrapper", "python"), join(out, "python"), { recursive: true });
