/**
 * `npm run bench`: runs every benchmark in one process, one after another, and prints one JSON line
 * per result (machine-readable), then the same results as a table. Ratios compare runs made in this
 * same invocation, on this same machine.
 */
import * as wrapperBench from "./wrapper.bench.js";

interface Bench {
  run(print: (result: Record<string, unknown>) => void): Promise<void>;
}

const benches: [string, Bench][] = [["wrapper", wrapperBench]];
const only = process.argv.slice(2);
const results: Record<string, unknown>[] = [];
for (const [name, bench] of benches) {
  if (only.length && !only.includes(name)) continue;
  await bench.run((r) => {
    results.push(r);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  });
}
process.stdout.write("\n");
for (const r of results) {
  const { bench, ...rest } = r;
  process.stdout.write(`${bench}\n${Object.entries(rest).map(([k, v]) => `  ${k}: ${v}`).join("\n")}\n`);
}
