"use strict";
/** Escape probes: host files from Node, through fs (and so the interceptors) and around them. */
const fs = require("node:fs");
const { join } = require("node:path");
const { Blocked, main } = require("./_probe.cjs");

const MARKER = "written by an mcpw escape probe\n";

function secretIn(text, t, how) {
  const data = String(text).trim();
  if (data !== t.token) throw new Blocked("WRONG_CONTENT", `${how} gave ${JSON.stringify(data.slice(0, 40))}, not the secret`);
  return `read the secret with ${how}`;
}

/** process.binding("fs") is Node's own native layer, under everything a preload can patch. */
function bindingRead(path) {
  const b = process.binding("fs");
  const fd = b.open(path, fs.constants.O_RDONLY, 0);
  const buf = Buffer.alloc(4096);
  return buf.subarray(0, b.read(fd, buf, 0, buf.length, 0)).toString();
}

function createIn(dir) {
  fs.writeFileSync(join(dir, "pwned-by-probe"), MARKER, { flag: "wx" });
  return `created ${dir}/pwned-by-probe with fs.writeFileSync`;
}

main({
  "secret-abs-fs": (t) => secretIn(fs.readFileSync(t.secret, "utf8"), t, `fs.readFileSync(${t.secret})`),
  "secret-abs-binding": (t) => secretIn(bindingRead(t.secret), t, `process.binding("fs") on ${t.secret}`),
  "secret-dotdot-fs": (t) => {
    const path = "../".repeat(32) + t.secret.slice(1);
    return secretIn(fs.readFileSync(path, "utf8"), t, `fs.readFileSync(${path.slice(0, 12)}…${t.secret})`);
  },
  "secret-symlink-planted-fs": (t) => secretIn(fs.readFileSync(t.plantedLink, "utf8"), t, `fs.readFileSync of the planted link ${t.plantedLink}`),
  "reopen-stdin-write-fs": () => {
    const fd = fs.openSync("/proc/self/fd/0", "a");
    fs.writeSync(fd, MARKER);
    return `appended to stdin's file ${fs.readlinkSync("/proc/self/fd/0")} through /proc/self/fd/0`;
  },
  "write-host-abs-fs": (t) => createIn(t.hostDir),
  "write-run-dir-fs": (t) => createIn(t.runDir),
  // A copy of a program in the workspace, made set-id: on the host that is a set-id program.
  "setuid-copy-chmod-fs": () => {
    fs.copyFileSync("/usr/bin/id", "planted-id-node");
    try {
      fs.chmodSync("planted-id-node", 0o4755);
      const mode = fs.statSync("planted-id-node").mode & 0o7777;
      if ((mode & 0o6000) === 0) throw new Blocked("NOT_SETID", `planted-id-node has mode ${mode.toString(8)}`);
      return `copied /usr/bin/id and fs.chmodSync 4755: mode ${mode.toString(8)} in the workspace`;
    } finally {
      fs.rmSync("planted-id-node", { force: true });
    }
  },
});
