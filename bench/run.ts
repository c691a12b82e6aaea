/**
 * `npm run bench`: runs every benchmark module in turn, each in its own Node process so that one
 * does not warm or load the next. Each prints JSON lines ({"bench": ..., ...}) on stdout.
 * Add a module by adding its compiled name here.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const BENCHES = ["snippets.bench.js"];

let failed = 0;
for (const name of BENCHES) {
  const file = fileURLToPath(new URL(`./${name}`, import.meta.url));
  const r = spawnSync(process.execPath, [file], { stdio: "inherit" });
  if (r.status !== 0) {
    failed++;
    process.stderr.write(`bench ${name} failed (exit ${r.status ?? r.signal})\n`);
  }
}
process.exit(failed ? 1 : 0);
