import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { McpwError } from "../../protocol/errors.js";
import { VERSION } from "../../server/server.js";
import { RunJsParams, RunPyParams, SnippetResult } from "./schemas.js";
import type { SnippetService } from "./snippet-service.js";

/**
 * The `run_js` and `run_py` tools as an MCP server (the SDK's low-level Server, so the call is
 * parsed by our own schemas and a malformed one is answered with an error that names the field).
 * The input and output schemas shown to clients are the JSON Schema of those same zod schemas.
 */

const TOOLS = [
  {
    name: "run_js",
    description:
      "Run JavaScript in a QuickJS sandbox (WebAssembly). Globals: console, fetch (through the mcpw bridge and its network policy), fs (promises: readFile, writeFile, appendFile, readdir, stat, mkdir, rm, rename, exists; /mount is the workspace), process (argv, env, cwd, exit, stdin.read()). The value of the last expression is returned (awaited if it is a promise).",
    schema: RunJsParams,
  },
  {
    name: "run_py",
    description:
      "Run Python (Pyodide, WebAssembly). open/os work on a virtual file system where /mount is the workspace; urllib and pyodide.http go through the mcpw bridge and its network policy; pip.wheelUrls / pip.requirements install pure-Python wheels through the bridge. The value of the last expression is returned; top-level await works.",
    schema: RunPyParams,
  },
] as const;

function inputSchema(schema: z.ZodType): { type: "object"; [k: string]: unknown } {
  return z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as { type: "object" };
}

export function snippetMcpServer(service: SnippetService): Server {
  const server = new Server({ name: "mcpw-snippets", version: VERSION }, { capabilities: { tools: {} } });
  const outputSchema = z.toJSONSchema(SnippetResult, { unrepresentable: "any" }) as { type: "object" };
  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: TOOLS.map((t) => ({ name: t.name, description: t.description, inputSchema: inputSchema(t.schema), outputSchema })),
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const { name, arguments: args } = request.params;
    try {
      if (name !== "run_js" && name !== "run_py") throw new McpwError("bad_params", `unknown tool "${name}"; this server has run_js and run_py`, { field: "name" });
      const result = name === "run_js" ? await service.runJs(args ?? {}) : await service.runPy(args ?? {});
      return { content: [{ type: "text" as const, text: JSON.stringify(result) }], structuredContent: result };
    } catch (err) {
      const e = err instanceof McpwError ? err : new McpwError("internal", err instanceof Error ? err.message : String(err));
      const text = e.rule && !e.message.includes(e.rule) ? `${e.message} (${e.rule})` : e.message;
      return { content: [{ type: "text" as const, text: `${e.code}: ${text}` }], isError: true };
    }
  });
  return server;
}
