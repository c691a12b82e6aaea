import { existsSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import t from "tap";
import { MCPW_BIN } from "../helpers/cli.js";
import { connectMcp, SERVERS, textOf } from "../helpers/mcp-client.js";
import { tempDir } from "../helpers/server.js";

t.test("the README's first example, run by sh as written: server-memory's graph lands in the workspace and outlives the run", async (t) => {
  const readme = readFileSync(join(process.cwd(), "README.md"), "utf8");
  const block = /## Run an MCP server sandboxed[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
  const lines = block.split("\n");
  const at = lines.findIndex((l) => l.startsWith("mcpw run "));
  t.match(lines[at], /npx @modelcontextprotocol\/server-memory$/, "the README's first example is server-memory");
  const script = [...lines.slice(0, at), `exec ${lines[at]}`].join("\n");

  // A user's machine: a home of its own, mcpw on PATH, and the package in npx's cache (as
  // `npx @modelcontextprotocol/server-memory` leaves it), so nothing is fetched.
  const home = tempDir("mcpw-e2e-readme-home-");
  const bin = join(home, "bin");
  mkdirSync(bin);
  symlinkSync(MCPW_BIN, join(bin, "mcpw"));
  const cached = join(home, ".npm", "_npx", "0123456789abcdef", "node_modules", "@modelcontextprotocol", "server-memory");
  mkdirSync(dirname(cached), { recursive: true });
  symlinkSync(join(dirname(SERVERS.memory), ".."), cached);
  const env = { HOME: home, PATH: `${bin}:${process.env.PATH}`, npm_config_cache: join(home, ".npm") };
  const cwd = tempDir("mcpw-e2e-readme-cwd-");

  const first = await connectMcp(["/bin/sh", "-c", script], { cwd, env, direct: true });
  const created = await first.client.callTool({
    name: "create_entities",
    arguments: { entities: [{ name: "readme", entityType: "example", observations: ["works as written"] }] },
  });
  await first.close();
  t.notOk(created.isError, `${textOf(created)} ${first.stderr()}`);
  const file = join(home, ".mcp-memory", "memory.jsonl");
  t.ok(existsSync(file), "memory.jsonl is in the workspace the README names");
  t.match(existsSync(file) ? readFileSync(file, "utf8") : "", /"name":"readme"/);

  const second = await connectMcp(["/bin/sh", "-c", script], { cwd, env, direct: true });
  t.teardown(() => second.close());
  const graph = await second.client.callTool({ name: "read_graph", arguments: {} });
  t.match(textOf(graph), /works as written/, "the next run remembers it");
});

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
