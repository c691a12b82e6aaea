#!/usr/bin/env node
// The mcpw command: one bundled file with a code cache, built by `npm install` (prepare) or
// `npm run build`.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadBundle } from "./load-bundle.mjs";

const cli = fileURLToPath(new URL("../dist/cli/mcpw.cjs", import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write("mcpw: dist/ is missing; run `npm install` (or `npm run build`) in the mcpw checkout first\n");
  process.exit(1);
}
process.exitCode = await loadBundle(cli).main(process.argv.slice(2));
