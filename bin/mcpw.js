#!/usr/bin/env node
// The mcpw command: one bundled file, built by `npm install` (prepare) or `npm run build`.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const cli = new URL("../dist/cli/mcpw.mjs", import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write("mcpw: dist/ is missing; run `npm install` (or `npm run build`) in the mcpw checkout first\n");
  process.exit(1);
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));
