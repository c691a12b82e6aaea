#!/usr/bin/env node
// Turns the escape suite's report (MCPW_ESCAPE_REPORT=<file> npx tap dist/test/escape/) into the
// Markdown table of docs/escape-suite.md: node test/escape/report-table.mjs <file>
import { readFileSync } from "node:fs";

const cell = (s) => String(s ?? "").replace(/\|/g, "\\|").replace(/\n/g, " ").slice(0, 160);
const rows = readFileSync(process.argv[2], "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
process.stdout.write("| # | attack | probe | layer that stopped it | answer under `mcpw run` | without a sandbox |\n|---|---|---|---|---|---|\n");
rows.forEach((r, i) => {
  process.stdout.write(`| ${i + 1} | ${r.attack} | ${r.file} | ${r.layer} | \`${cell(r.code)}\` ${cell(r.detail)} | ESCAPED: ${cell(r.unsandboxed)} |\n`);
});
