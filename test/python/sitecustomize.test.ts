import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { tempDir } from "../helpers/server.js";
import { PYTHON_LIB } from "../helpers/python.js";

/** sitecustomize outside a sandbox: no config file, so nothing may change. */

const STATE = `
import builtins, io, json, os, posix, socket, subprocess, sys
print(json.dumps({
    "open_is_original": builtins.open is io.open and type(builtins.open).__name__ == "builtin_function_or_method",
    "stat_is_posix": os.stat is posix.stat,
    "connect_is_original": socket.socket.connect is socket.socket.__mro__[1].connect,
    "execute_child": subprocess.Popen._execute_child.__module__,
    "mcpw_loaded": sorted(m for m in sys.modules if m.startswith("_mcpw")),
    "meta_path": [type(f).__name__ for f in sys.meta_path],
}))`;

function python(code: string, env: Record<string, string>) {
  const r = spawnSync("python3", ["-c", code], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/", ...env }, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test("outside a sandbox (no config file) the interceptors are not installed at all", async (t) => {
  const channelDir = tempDir("mcpw-py-nochannel-");
  const plain = python(STATE, {});
  const withLib = python(STATE, { PYTHONPATH: PYTHON_LIB, MCPW_CHANNEL_DIR: channelDir });
  t.equal(withLib.code, 0, withLib.stderr);
  t.equal(withLib.stderr, "");
  const seen = JSON.parse(withLib.stdout);
  t.same(seen, JSON.parse(plain.stdout), "the same interpreter state as without mcpw on PYTHONPATH");
  t.same(seen.mcpw_loaded, [], "_mcpw is not even imported");
  t.equal(seen.open_is_original, true);
  t.equal(seen.execute_child, "subprocess");
});

t.test("inside, the sitecustomize that mcpw's shadows still runs", async (t) => {
  const other = tempDir("mcpw-py-other-site-");
  writeFileSync(join(other, "sitecustomize.py"), "import sys\nsys.stdout.write('chained ' + __name__ + '\\n')\n");
  const channelDir = tempDir("mcpw-py-channel-");
  writeFileSync(join(channelDir, "config.json"), JSON.stringify({ sandbox: "sb-test0001", isolated: true, workspace: "/mount", channelDir, view: ["/"], readonly: [], writable: [], exec: { allow: [], viaBridge: [] }, hostLoopback: [], nodeImport: "", proxyPort: null }));
  const outside = python("import sys; print('_mcpw' in sys.modules)", { PYTHONPATH: `${PYTHON_LIB}:${other}`, MCPW_CHANNEL_DIR: tempDir("mcpw-py-nochannel-") });
  t.equal(outside.stdout, "chained sitecustomize\nFalse\n", "outside a sandbox");
  const inside = python("import sys, builtins; print('_mcpw' in sys.modules, builtins.open.__module__)", { PYTHONPATH: `${PYTHON_LIB}:${other}`, MCPW_CHANNEL_DIR: channelDir });
  t.equal(inside.stdout, "chained sitecustomize\nTrue _mcpw.fs\n", "and inside, after the interceptors are installed");
  t.equal(inside.stderr, "");
});
