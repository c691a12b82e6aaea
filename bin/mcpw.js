#!/usr/bin/env node
// The mcpw command: bundles with a code cache, built by `npm install` (prepare) or `npm run build`.
// CommonJS (bin/package.json), as Node reaches a CommonJS entry sooner than an ES module.
"use strict";
const { existsSync } = require("node:fs");
const { join } = require("node:path");
const { loadBundle } = require("./load-bundle.js");

const bundle = (name) => join(__dirname, "..", "dist", "cli", name);
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
loadBundle(cli)
  .main(argv)
  .then((code) => {
    process.exitCode = code;
  });
