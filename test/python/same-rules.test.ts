import { spawnSync } from "node:child_process";
import t from "tap";
import type { InterceptorConfig } from "../../wrapper/interceptor-config.js";
import { routesToHost, tunnelHost } from "../../wrapper/node/net-intercept.js";
import { PathRouter } from "../../wrapper/node/path-router.js";
import { PYTHON_LIB } from "../helpers/python.js";

/**
 * The Python interceptors decide where a path is served, and whether a loopback destination is the
 * host's, exactly as the Node preload does: the same cases through both, answers compared.
 */

function config(isolated: boolean): InterceptorConfig {
  return {
    sandbox: "sb-rules001",
    isolated,
    workspace: "/srv/ws/sb-rules001",
    channelDir: "/run/mcpw",
    view: ["/usr", "/tmp", "/mount", "/etc/ssl", "/opt/mcpw", "/root/.pyenv/versions/3.11.7"],
    readonly: ["/var/tmp/h/ro", "/tmp/listed.txt"],
    writable: ["/var/tmp/h/rw", "/home/me/project/"],
    exec: { allow: [], viaBridge: [] },
    hostLoopback: [],
    nodeImport: "",
    proxyPort: null,
  };
}

const PATHS = [
  "/", "/mount", "/mount/a/b", "/mountain", "/mount/../etc/passwd", "//mount//x/./y", "/tmp/x", "/tmp/listed.txt", "/tmp/listed.txt.bak",
  "/etc/ssl/certs/ca.pem", "/etc/shadow", "/etc", "/usr/lib/x", "/var/tmp/h/rw", "/var/tmp/h/rw/a/b", "/var/tmp/h/rwx", "/var/tmp/h/ro/f",
  "/var/tmp/h/ro/../rw/z", "/var/tmp/h", "/home/me/project", "/home/me/project/src/x.py", "/home/me", "/root", "/root/.pyenv/versions/3.11.7/lib",
  "relative/file", "../escape", "/opt/mcpw/python/sitecustomize.py", "/proc/self/environ",
];

const PYTHON_ROUTES = `
import json, sys
sys.path.insert(0, sys.argv[1])
from _mcpw.router import PathRouter
cases = json.load(sys.stdin)
out = []
for c in cases:
    r = PathRouter(c["config"]).route(c["path"], c["write"])
    out.append({"kind": r.kind, "path": r.path, "code": r.code, "detail": r.detail})
print(json.dumps(out))`;

const PYTHON_LOOPBACK = `
import json, sys
sys.path.insert(0, sys.argv[1])
from _mcpw.context import _host_port
from _mcpw.net import routes_to_host
print(json.dumps([routes_to_host(c["host"], c["port"], [_host_port(e) for e in c["entries"]]) for c in json.load(sys.stdin)]))`;

const PYTHON_TUNNEL_HOST = `
import json, sys
sys.path.insert(0, sys.argv[1])
from _mcpw.context import _host_port
from _mcpw.net import tunnel_host
print(json.dumps([tunnel_host(c["host"], c["port"], [_host_port(e) for e in c["entries"]]) for c in json.load(sys.stdin)]))`;

function python(code: string, input: unknown): unknown {
  const r = spawnSync("python3", ["-S", "-c", code, PYTHON_LIB], { input: JSON.stringify(input), encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

t.test("paths are routed as PathRouter routes them", async (t) => {
  const cases = [true, false].flatMap((isolated) => PATHS.flatMap((path) => [false, true].map((write) => ({ config: config(isolated), path, write }))));
  const fromPython = python(PYTHON_ROUTES, cases) as Record<string, unknown>[];
  cases.forEach((c, i) => {
    const r = new PathRouter(c.config).route(c.path, c.write)!;
    const node = { kind: r.kind, path: r.path, code: "code" in r ? r.code : null, detail: "detail" in r ? r.detail : null };
    t.same(fromPython[i], node, `${c.config.isolated ? "isolated" : "best-effort"} ${c.write ? "write" : "read"} ${c.path} → ${node.kind}`);
  });
});

t.test("nested rules: the deepest path decides, in Node and in Python alike", async (t) => {
  const nested: InterceptorConfig = { ...config(true), readonly: ["/d/sub", "/e", "/same"], writable: ["/d", "/e/inner/", "/same/"] };
  const expected: [string, boolean, string][] = [
    ["/d/x", true, "bridge"],
    ["/d/sub/x", true, "denied EROFS"],
    ["/d/sub", true, "denied EROFS"],
    ["/d/sub/x", false, "bridge"],
    ["/d/subway", true, "bridge"],
    ["/e/inner/x", true, "bridge"],
    ["/e/x", true, "denied EROFS"],
    ["/same/x", true, "denied EROFS"],
  ];
  const cases = expected.map(([path, write]) => ({ config: nested, path, write }));
  const fromPython = python(PYTHON_ROUTES, cases) as { kind: string; code: string | null }[];
  expected.forEach(([path, write, want], i) => {
    const r = new PathRouter(nested).route(path, write)!;
    const node = r.kind === "denied" ? `denied ${r.code}` : r.kind;
    t.equal(node, want, `node: ${write ? "write" : "read"} ${path}`);
    const py = fromPython[i]!;
    t.equal(py.kind === "denied" ? `denied ${py.code}` : py.kind, want, `python: ${write ? "write" : "read"} ${path}`);
  });
});

t.test("loopback destinations are the host's exactly when routesToHost says so", async (t) => {
  const hosts = ["localhost", "LocalHost", "127.0.0.1", "127.8.9.10", "::1", "0:0:0:0:0:0:0:1", "0.0.0.0", "::", "example.com", "10.0.0.1", "::ffff:7f00:1"];
  const lists = [[], ["127.0.0.1:8080"], ["localhost"], ["[::1]:8080"], ["localhost:80", "127.0.0.1"]];
  const cases = lists.flatMap((entries) => hosts.flatMap((host) => [80, 8080].map((port) => ({ host, port, entries }))));
  const fromPython = python(PYTHON_LOOPBACK, cases) as boolean[];
  cases.forEach((c, i) => t.equal(fromPython[i], routesToHost(c.host, c.port, c.entries), `${c.host}:${c.port} with [${c.entries.join(", ")}]`));
});

t.test("a loopback destination goes to the host's loopback by the name the policy lists, for any loopback name", async (t) => {
  const expected: [string, number, string[], string | null][] = [
    ["localhost", 8080, ["127.0.0.1:8080"], "127.0.0.1"],
    ["127.0.0.1", 8080, ["localhost:8080"], "localhost"],
    ["127.0.0.1", 8080, ["localhost:8080", "127.0.0.1:8080"], "127.0.0.1"],
    ["::1", 8080, ["[::1]:8080"], "::1"],
    ["localhost", 80, ["127.0.0.1:8080"], null],
    ["127.0.0.1", 80, ["localhost"], "localhost"],
    ["example.com", 80, [], "example.com"],
  ];
  const cases = expected.map(([host, port, entries]) => ({ host, port, entries }));
  const fromPython = python(PYTHON_TUNNEL_HOST, cases) as (string | null)[];
  expected.forEach(([host, port, entries, want], i) => {
    const what = `${host}:${port} with [${entries.join(", ")}]`;
    t.equal(tunnelHost(host, port, entries), want, `node: ${what}`);
    t.equal(fromPython[i], want, `python: ${what}`);
  });
});
