import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { connectMcp, SERVERS, textOf } from "../helpers/mcp-client.js";
import { tempDir } from "../helpers/server.js";

t.test("@modelcontextprotocol/server-memory under mcpw run: its file lands in the workspace", async (t) => {
  const cwd = tempDir("mcpw-e2e-mem-");
  const ws = join(cwd, "ws");
  mkdirSync(ws);
  const mem = await connectMcp(["node", SERVERS.memory], { cwd, mcpwArgs: ["--mount", ws, "--set-env", "MEMORY_FILE_PATH=/mount/memory.jsonl"] });
  t.teardown(() => mem.close());
  const created = await mem.client.callTool({
    name: "create_entities",
    arguments: { entities: [{ name: "mcpw", entityType: "project", observations: ["runs MCP servers in a sandbox"] }] },
  });
  t.notOk(created.isError, textOf(created));
  const graph = await mem.client.callTool({ name: "read_graph", arguments: {} });
  t.match(textOf(graph), /runs MCP servers in a sandbox/);
  t.ok(existsSync(join(ws, "memory.jsonl")), "memory.jsonl is in the host workspace");
  t.match(readFileSync(join(ws, "memory.jsonl"), "utf8"), /"name":"mcpw"/);

  // Its default location is beside its own code, which the sandbox exposes read-only.
  const cwd2 = tempDir("mcpw-e2e-mem-");
  const ro = await connectMcp(["node", SERVERS.memory], { cwd: cwd2 });
  t.teardown(() => ro.close());
  const refused = await ro.client.callTool({ name: "create_entities", arguments: { entities: [{ name: "x", entityType: "y", observations: [] }] } });
  t.ok(refused.isError, "writing into its own package directory fails");
  t.match(textOf(refused), /EROFS|read-only/i);
  t.notOk(existsSync(join(SERVERS.memory, "..", "memory.jsonl")), "and the package directory on the host is untouched");
});
