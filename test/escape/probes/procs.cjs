"use strict";
/** Escape probes: programs and other processes, from Node. */
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const { Blocked, main } = require("./_probe.cjs");

function shellRan(output, how) {
  if (!String(output).includes("shell-ran")) throw new Blocked("NO_OUTPUT", `${how}: the shell printed ${JSON.stringify(String(output).slice(0, 60))}`);
  return `${how} ran /bin/sh`;
}

/** process.binding("spawn_sync") is what child_process uses underneath; a preload does not see it. */
function bindingSpawn(file, args) {
  const r = process.binding("spawn_sync").spawn({
    file,
    args: [file, ...args],
    envPairs: [],
    stdio: [
      { type: "pipe", readable: true, writable: false },
      { type: "pipe", readable: false, writable: true },
      { type: "pipe", readable: false, writable: true },
    ],
  });
  if (r.error) {
    const code = Object.keys(os.constants.errno).find((k) => os.constants.errno[k] === -r.error) || String(r.error);
    throw Object.assign(new Error(`spawn_sync ${file}: ${code}`), { code });
  }
  return String(r.output[1]);
}

main({
  "spawn-shell-cp": () => shellRan(execFileSync("/bin/sh", ["-c", "echo shell-ran"]), "child_process.execFileSync"),
  "spawn-shell-binding": () => shellRan(bindingSpawn("/bin/sh", ["-c", "echo shell-ran"]), 'process.binding("spawn_sync")'),
  "kill-host-node": (t) => {
    process.kill(t.pid, "SIGTERM");
    return `sent SIGTERM to host pid ${t.pid} (process.kill)`;
  },
  "see-host-process-node": (t) => {
    const cmdline = fs.readFileSync(`/proc/${t.pid}/cmdline`, "utf8").replace(/\0/g, " ");
    if (!cmdline.includes(t.marker)) throw new Blocked("OTHER_PROCESS", `pid ${t.pid} is ${JSON.stringify(cmdline.slice(0, 60))}`);
    return `saw the host's process ${t.pid}: ${cmdline.trim()}`;
  },
});
