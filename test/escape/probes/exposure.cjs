"use strict";
/**
 * Escape probes: what `mcpw run` exposes around the program itself, in Node (exposure.py's attacks,
 * `-node` names). Self-contained like exposure.py, because the test copies it where each attack
 * needs it. Through process.binding("fs") and a plain net socket: the sandbox's view, not the
 * interceptors, is what is tested.
 *
 *     node <copy>.cjs <attack>[,<attack>...] '<targets as JSON>'
 */
const net = require("node:net");
const fs = require("node:fs");

class Blocked extends Error {
  constructor(code, detail) {
    super(detail);
    this.code = code;
  }
}

function readFile(path, expected) {
  // The fs binding, under fs.readFileSync (which the preload wraps).
  const binding = process.binding("fs");
  const fd = binding.open(path, fs.constants.O_RDONLY, 0);
  const buf = Buffer.alloc(4096);
  const data = buf.subarray(0, binding.read(fd, buf, 0, buf.length, 0)).toString().trim();
  if (data !== expected) throw new Blocked("WRONG_CONTENT", `read ${JSON.stringify(data.slice(0, 40))} from ${path}`);
  return `read '${data.slice(0, 12)}...' through ${path}`;
}

function hostSocket(t) {
  return new Promise((resolve, reject) => {
    const s = net.connect(t.tmpSocket);
    let got = "";
    s.on("error", reject);
    s.on("connect", () => s.write("exposure-probe"));
    s.on("data", (d) => {
      got += d;
      if (got.length >= "ECHO:exposure-probe".length) {
        s.destroy();
        if (got === "ECHO:exposure-probe") resolve(`the host's unix socket ${t.tmpSocket} echoed our bytes (net.connect)`);
        else reject(new Blocked("WRONG_REPLY", `${t.tmpSocket} answered ${JSON.stringify(got)}`));
      }
    });
    setTimeout(() => reject(new Blocked("NO_REPLY", "no reply within 10 s")), 10_000).unref();
  });
}

const attacks = {
  "lone-script-tmp-socket-node": hostSocket,
  "lone-script-tmp-sibling-node": (t) => readFile(t.sibling, t.token),
  "lone-script-sibling-node": (t) => readFile(t.sibling, t.token),
  "package-other-workspace-node": (t) => readFile(t.otherWorkspaceFile, t.token),
  "package-shared-folder-node": (t) => readFile(t.sharedFile, t.token),
  // The same read, with the program given as the project's folder (node . runs package.json's main).
  "package-folder-other-workspace-node": (t) => readFile(t.otherWorkspaceFile, t.token),
  // Another sandbox's workspace in the package's ./mount, run from a subfolder (../server.cjs);
  // and in a subfolder's ./mount, run from the package.
  "package-parent-other-workspace-node": (t) => readFile(t.otherWorkspaceFile, t.token),
  "package-subfolder-other-workspace-node": (t) => readFile(t.otherWorkspaceFile, t.token),
  // A program in a per-user prefix (~/.cargo/bin): another file of that prefix (credentials.toml).
  "per-user-tree-data-node": (t) => readFile(t.userData, t.token),
};

function emit(attack, result, code, detail) {
  process.stdout.write(`${JSON.stringify({ attack, result, code, detail: String(detail).slice(0, 500) })}\n`);
}

(async () => {
  const targets = JSON.parse(process.argv[3]);
  for (const name of process.argv[2].split(",")) {
    if (!attacks[name]) {
      emit(name, "ERROR", "UNKNOWN_ATTACK", `no attack ${name}`);
      continue;
    }
    try {
      emit(name, "ESCAPED", null, await attacks[name](targets));
    } catch (e) {
      emit(name, "BLOCKED", e.code || e.name, e.message);
    }
  }
})();
