import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { mcpw } from "../helpers/cli.js";
import { connectMcp, textOf } from "../helpers/mcp-client.js";
import { sandboxWorkspace, tempDir } from "../helpers/server.js";

const NO_BWRAP = { MCPW_BWRAP: "/nonexistent/bwrap" };

t.test("without bubblewrap: strict refuses to start; best-effort runs, says so loudly, and the other layers still hold", async (t) => {
  const cwd = tempDir("mcpw-iso-");
  const strict = await mcpw(["run", "--", "node", "-e", "console.log('ran')"], { cwd, env: NO_BWRAP });
  t.not(strict.code, 0);
  t.equal(strict.stdout, "", "nothing ran");
  t.match(strict.stderr, /cannot isolate: bubblewrap \(bwrap\) is not installed .*install it with: apt-get install -y bubblewrap.*isolation is "strict"/);

  const secret = tempDir("mcpw-iso-secret-", "/var/tmp");
  writeFileSync(join(secret, "key"), "top secret");
  const probe = `
    const fs = require("fs"), out = {};
    try { out.secret = fs.readFileSync(${JSON.stringify(join(secret, "key"))}, "utf8"); } catch (e) { out.secret = e.code; }
    try { fs.writeFileSync("/etc/mcpw-planted", "x"); out.etc = "written"; } catch (e) { out.etc = e.code; }
    out.seccomp = fs.readFileSync("/proc/self/status", "utf8").match(/Seccomp:\\s+(\\d)/)[1];
    fs.writeFileSync("/mount/ok.txt", "in the workspace");
    out.mount = fs.readFileSync("/mount/ok.txt", "utf8");
    console.log(JSON.stringify(out));`;
  const loose = await mcpw(["run", "--isolation", "best-effort", "--mount", sandboxWorkspace(), "--", "node", "-e", probe], { cwd, env: NO_BWRAP });
  t.equal(loose.code, 0, loose.stderr);
  t.match(loose.stderr, /WARNING: running WITHOUT isolation/, "best-effort says so loudly");
  const out = JSON.parse(loose.stdout.trim());
  t.equal(out.secret, "EACCES", "the interceptors still refuse a host secret");
  t.equal(out.etc, "EACCES", "writing outside the workspace is refused");
  t.equal(out.seccomp, "2", "the seccomp filter is installed even without namespaces");
  t.equal(out.mount, "in the workspace", "/mount maps onto the workspace");
});

t.test("an npx-resolved bin runs sandboxed, its package exposed read-only without asking", async (t) => {
  // From the checkout, so npx finds the package in its node_modules (no registry needed).
  const mcp = await connectMcp(["npx", "-y", "@modelcontextprotocol/server-everything", "stdio"], { cwd: process.cwd(), mcpwArgs: ["--mount", tempDir("mcpw-iso-ws-")] });
  t.teardown(() => mcp.close());
  const echo = await mcp.client.callTool({ name: "echo", arguments: { message: "via npx" } });
  t.match(textOf(echo), /via npx/);
  const env = await mcp.client.callTool({ name: "get-env", arguments: {} });
  t.match(textOf(env), /MCPW_SANDBOX/, "it runs inside a sandbox");
});
