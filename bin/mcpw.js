#!/usr/bin/env node
// The mcpw command: bundles with a code cache, built by `npm install` (prepare) or `npm run build`.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadBundle } from "./load-bundle.mjs";

const bundle = (name) => fileURLToPath(new URL(`../dist/cli/${name}`, import.meta.url));
const cli = bundle("mcpw.cjs");
if (!existsSync(cli)) {
  process.stderr.write("mcpw: dist/ is missing; run `npm install` (or `npm run build`) in the mcpw checkout first\n");
  process.exit(1);
}
// Bundled code that must import() late (ESM-only packages) borrows this module's import().
globalThis.__mcpwImport = (specifier) => import(specifier);
const argv = process.argv.slice(2);
// `mcpw run`: a small bundle spawns the sandbox first, so its start-up overlaps the main one's
// (client/run-start.ts). Anything unusual makes it step aside; `mcpw run` then does it all.
if (argv[0] === "run") {
  try {
    globalThis.__mcpwRunStart = loadBundle(bundle("run-start.cjs")).fastStart(argv.slice(1));
  } catch {
    globalThis.__mcpwRunStart = null;
  }
}
process.exitCode = await loadBundle(cli).main(argv);
