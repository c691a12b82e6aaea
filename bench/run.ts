/**
 * `npm run bench`: runs every benchmark in turn, each in its own Node process so that one does not
 * warm or load the next. Each prints one JSON line per result ({"bench": ..., ...}) on stdout; this
 * runner passes them on, then prints the same results as a table. Ratios compare runs made in the
 * same invocation, on the same machine. `npm run bench -- wrapper` runs only the named ones.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const BENCHES: [name: string, file: string][] = [
  ["wrapper", "wrapper.bench.js"],
  ["snippets", "snippets.bench.js"],
  ["kernel-layers", "kernel-layers.bench.js"],
];

const only = process.argv.slice(2);
const results: Record<string, unknown>[] = [];
let failed = 0;
for (const [name, file] of BENCHES) {
  if (only.length && !only.includes(name)) continue;
  const child = spawn(process.execPath, [fileURLToPath(new URL(`./${file}`, import.meta.url))], { stdio: ["ignore", "pipe", "inherit"] });
  createInterface({ input: child.stdout }).on("line", (line) => {
    process.stdout.write(`${line}\n`);
    try {
      const r = JSON.parse(line) as Record<string, unknown>;
      if (r && typeof r === "object" && "bench" in r) results.push(r);
    } catch {
      // not a result line
    }
  });
  const code = await new Promise<number | null>((r) => child.on("close", r));
  if (code !== 0) {
    failed++;
    process.stderr.write(`bench ${name} failed (exit ${code})\n`);
  }
}
process.stdout.write("\n");
for (const { bench, ...rest } of results) {
  process.stdout.write(`${bench}\n${Object.entries(rest).map(([k, v]) => `  ${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join("\n")}\n`);
}
process.exit(failed ? 1 : 0);
