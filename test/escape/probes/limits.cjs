"use strict";
/** Escape probes: resource bombs from Node; each goes to twice the limit it is given. */
const { main } = require("./_probe.cjs");

main({
  "memory-bomb-node": (t) => {
    // Arrays of doubles live in V8's heap: 1 Mi elements is 8 MiB.
    const hoard = [];
    while (hoard.length * 8 < 2 * t.memMb) hoard.push(new Array(1 << 20).fill(1.5));
    return `allocated ${hoard.length * 8} MiB in V8's heap (memMb=${t.memMb})`;
  },
  "cpu-loop-node": (t) => {
    const budgetUs = 2 * t.cpuSeconds * 1e6;
    while (process.cpuUsage().user < budgetUs);
    return `used ${(process.cpuUsage().user / 1e6).toFixed(1)} CPU seconds (cpuSeconds=${t.cpuSeconds})`;
  },
  "infinite-loop-node": (t) => {
    // A busy loop that would never end; this one gives up after runMs (> timeoutMs) so that an
    // unsandboxed run ends too.
    const end = Date.now() + t.runMs;
    while (Date.now() < end);
    return `still running after ${t.runMs} ms (timeoutMs=${t.timeoutMs})`;
  },
  "stdout-flood-node": async (t) => {
    const chunk = Buffer.alloc(64 * 1024, "x");
    let written = 0;
    while (written < 2 * t.stdoutBytes) {
      if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once("drain", r));
      written += chunk.length;
    }
    process.stdout.write("\n");
    return `wrote ${written} bytes to stdout (stdoutBytes=${t.stdoutBytes})`;
  },
});
