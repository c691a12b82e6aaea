import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import t from "tap";
import { MCPW_BIN, mcpwDaemon } from "../helpers/cli.js";
import { connectMcp, textOf } from "../helpers/mcp-client.js";
import { tempDir } from "../helpers/server.js";
import { SNAPSHOT_DIR, webServer } from "./fixtures.js";

t.test("mcpw snippets: a stdio MCP server with run_js and run_py", async (t) => {
  const { port } = await webServer(t);
  const state = tempDir("mcpw-snippets-cli-");
  const mcp = await connectMcp([process.execPath, MCPW_BIN, "snippets", "--allow-net", "localhost", "--py-pool", "1"], {
    direct: true,
    cwd: process.cwd(),
    env: { MCPW_STATE_DIR: state, MCPW_CACHE_DIR: SNAPSHOT_DIR },
  });
  t.teardown(() => mcp.close());
  const { tools } = await mcp.client.listTools();
  t.same(tools.map((x) => x.name).sort(), ["run_js", "run_py"]);
  const js = tools.find((x) => x.name === "run_js")!;
  t.match(js.inputSchema, { type: "object", properties: { code: { type: "string" }, policy: { type: "object" } }, required: ["code"] }, "the input schema comes from the zod schema");

  const r = await mcp.client.callTool({ name: "run_js", arguments: { code: `fetch("http://localhost:${port}/hello").then((r) => r.text())` } });
  t.match(r.structuredContent, { value: "hello from loopback", exitCode: 0 }, "run_js, with --allow-net localhost");
  const py = await mcp.client.callTool({ name: "run_py", arguments: { code: "print('from python')\n2 ** 10" } });
  t.match(py.structuredContent, { stdout: "from python\n", value: 1024 });
  const bad = await mcp.client.callTool({ name: "run_py", arguments: { code: "1", policy: { limits: { memMb: 10 ** 7 } } } });
  t.equal(bad.isError, true);
  t.match(textOf(bad), /^bad_params: policy\.limits\.memMb: /, "a malformed call is answered with the field's name");
  const missing = await mcp.client.callTool({ name: "run_js", arguments: {} });
  t.match(textOf(missing), /bad_params: code: expected string, but it is missing/);
});

t.test("mcpw serve: the same tools over Streamable HTTP at /mcp, behind the admin token", async (t) => {
  const state = tempDir("mcpw-snippets-serve-");
  const serve = await mcpwDaemon(["serve", "--port", "0", "--py-pool", "1"], /snippet tools \(run_js, run_py\) at (http:\/\/127\.0\.0\.1:\d+\/mcp)/, { MCPW_STATE_DIR: state, MCPW_CACHE_DIR: SNAPSHOT_DIR });
  t.teardown(() => serve.child.kill("SIGTERM"));
  const url = new URL(serve.match[1]!);
  const admin = readFileSync(join(state, "admin.token"), "utf8").trim();

  const anonymous = await fetch(url, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream" }, body: "{}" });
  t.equal(anonymous.status, 401, "no token: 401");
  const wrong = await fetch(url, { method: "POST", headers: { authorization: `Bearer mcpw_${"a".repeat(43)}`, "content-type": "application/json" }, body: "{}" });
  t.equal(wrong.status, 401, "an unknown token: 401");

  const client = new Client({ name: "mcpw-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: `Bearer ${admin}` } } }));
  t.teardown(() => client.close());
  t.same((await client.listTools()).tools.map((x) => x.name).sort(), ["run_js", "run_py"]);
  t.match((await client.callTool({ name: "run_js", arguments: { code: "1 + 1" } })).structuredContent, { value: 2 });
  t.match((await client.callTool({ name: "run_py", arguments: { code: "print(1)" } })).structuredContent, { stdout: "1\n" });
  const net = await client.callTool({ name: "run_js", arguments: { code: "fetch('http://localhost:1/').catch((e) => e.message)" } });
  t.match((net.structuredContent as { value: string }).value, /no active bridge for environment "dev"/, "network needs an active bridge");
});
