import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import t from "tap";
import { tempDir } from "../helpers/server.js";
import { loopbackServer, MCPW, policyFile, PYTHON_FIXTURE } from "../helpers/python.js";

/**
 * The stdlib Python MCP server (test/fixtures/python-mcp-server.py) under `mcpw run`, driven by the
 * MCP SDK's own client over stdio, as an MCP client configuration would run it.
 */

type ToolResult = { content: { type: string; text: string }[]; isError?: boolean };

t.test("a Python MCP server under mcpw run: its tools work where the policy allows and fail clearly elsewhere", async (t) => {
  const hostRoot = tempDir("mcpw-py-mcp-", "/var/tmp");
  t.teardown(() => rmSync(hostRoot, { recursive: true, force: true }));
  const roDir = join(hostRoot, "docs");
  const rwDir = join(hostRoot, "out");
  mkdirSync(roDir);
  mkdirSync(rwDir);
  writeFileSync(join(roDir, "readme.txt"), "documentation for the server\n");
  writeFileSync(join(hostRoot, "private.txt"), "PRIVATE\n");
  const server = await loopbackServer("mcp host");
  t.teardown(() => server.close());
  const workspace = tempDir("mcpw-py-mcp-ws-");

  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [
      MCPW, "run", "-q", "--mount", workspace,
      "--ro", roDir, "--rw", rwDir,
      "--allow-net", `127.0.0.1:${server.port}`,
      "--policy", policyFile({ exec: { viaBridge: ["cat"] } }),
      "--", "python3", PYTHON_FIXTURE,
    ],
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (d) => (stderr += d));
  const client = new Client({ name: "mcpw-test", version: "1.0.0" });
  await client.connect(transport);
  t.teardown(() => client.close());

  t.equal(client.getServerVersion()?.name, "mcpw-python-fixture");
  const { tools } = await client.listTools();
  t.same(tools.map((x) => x.name).sort(), ["fetch", "read_file", "run", "write_file"]);

  const call = async (name: string, args: Record<string, unknown>) => {
    const r = (await client.callTool({ name, arguments: args })) as ToolResult;
    return { text: r.content.map((c) => c.text).join(""), isError: Boolean(r.isError) };
  };

  t.same(await call("read_file", { path: join(roDir, "readme.txt") }), { text: "documentation for the server\n", isError: false }, "a --ro file is readable");
  const secret = await call("read_file", { path: join(hostRoot, "private.txt") });
  t.equal(secret.isError, true);
  t.match(secret.text, /^PermissionError: \[Errno 13\] Permission denied \(mcpw: outside \/mount and not in policy filesystem\.readonly or filesystem\.writable\)/);

  const wrote = await call("write_file", { path: join(rwDir, "result.txt"), content: "written by the sandboxed server" });
  t.equal(wrote.isError, false, wrote.text);
  t.equal(readFileSync(join(rwDir, "result.txt"), "utf8"), "written by the sandboxed server", "the host file was written");
  const ro = await call("write_file", { path: join(roDir, "readme.txt"), content: "defaced" });
  t.equal(ro.isError, true);
  t.match(ro.text, /\[Errno 30\] Read-only file system \(mcpw: .* is read-only \(filesystem\.readonly\)\)/);
  t.equal(readFileSync(join(roDir, "readme.txt"), "utf8"), "documentation for the server\n");
  const local = await call("write_file", { path: "/mount/notes.txt", content: "scratch" });
  t.equal(local.isError, false);
  t.equal(readFileSync(join(workspace, "notes.txt"), "utf8"), "scratch", "/mount is the workspace");

  t.same(await call("fetch", { url: `${server.url}/api` }), { text: "200\nhello from mcp host /api", isError: false }, "an allowed URL is fetched");
  const away = await call("fetch", { url: "http://api.example.invalid/" });
  t.equal(away.isError, true);
  t.match(away.text, /Connection refused \(mcpw: api\.example\.invalid:80: host "api\.example\.invalid(:80)?" is not in network\.allowedDomains\)/);

  const ls = await call("run", { argv: ["ls", "/"] });
  t.equal(ls.isError, true);
  t.match(ls.text, /"ls" is not in policy exec\.allow or exec\.viaBridge/);
  const cat = await call("run", { argv: ["cat", join(hostRoot, "private.txt")] });
  t.same(cat, { text: "exit 0\n--- stdout\nPRIVATE\n--- stderr\n", isError: false }, "a viaBridge program runs on the host");

  t.equal(stderr, "", "nothing on stderr");
});
