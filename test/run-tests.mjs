#!/usr/bin/env node
// `npm test`: runs tap on the compiled tests, then prints one plain line, `N passed, N failed`,
// counted from tap's own result files (.tap/test-results). CI reads that line.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { Parser } from "tap-parser";

const resultsDir = ".tap/test-results";
rmSync(resultsDir, { recursive: true, force: true });

const args = process.argv.slice(2);
const run = spawnSync(join("node_modules", ".bin", "tap"), args, { stdio: "inherit" });

let passed = 0;
let failed = 0;
const failures = [];

function walk(dir) {
  let out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    out = statSync(p).isDirectory() ? out.concat(walk(p)) : out.concat(p.endsWith(".tap") ? [p] : []);
  }
  return out;
}

/** Counts leaf assertions: a subtest's own summary point is not counted again. */
function count(parser, file, trail) {
  let childJustEnded = false;
  parser.on("child", (child) => {
    count(child, file, trail.concat(child.name || "(subtest)"));
    child.on("complete", () => (childJustEnded = true));
  });
  parser.on("assert", (res) => {
    if (childJustEnded) {
      childJustEnded = false;
      // A subtest that failed without a failing assertion of its own (a crash, a timeout, a wrong
      // plan) still counts as a failure.
      if (!res.ok && !res.todo && !res.skip && !parser.failedChildAsserts) {
        failed++;
        failures.push(`${file}: ${trail.concat(res.name).join(" > ")}`);
      }
      parser.failedChildAsserts = false;
      return;
    }
    if (res.ok || res.todo || res.skip) passed++;
    else {
      failed++;
      failures.push(`${file}: ${trail.concat(res.name).join(" > ")}`);
      if (parser.parent) parser.parent.failedChildAsserts = true;
    }
  });
}

let files = [];
try {
  files = walk(resultsDir);
} catch {
  files = [];
}
for (const file of files) {
  const parser = new Parser();
  count(parser, file, []);
  let clean = true;
  parser.on("complete", (r) => (clean = r.ok));
  parser.end(readFileSync(file, "utf8"));
  if (!clean && !failures.some((f) => f.startsWith(`${file}:`))) {
    failed++;
    failures.push(`${file}: the file did not finish cleanly (crash, bail out or wrong plan)`);
  }
}
if (files.length === 0) {
  failed++;
  failures.push("no tap results were written");
}
if (failures.length) {
  console.log("\nfailures:");
  for (const f of failures) console.log(`  - ${f}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(run.status === 0 && failed === 0 ? 0 : 1);
