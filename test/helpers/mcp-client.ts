import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { join } from "node:path";
import { MCPW_BIN } from "./cli.js";

export const SERVERS = {
  filesystem: join(process.cwd(), "node_modules/@modelcontextprotocol/server-filesystem/dist/index.js"),
  everything: join(process.cwd(), "node_modules/@modelcontextprotocol/server-everything/dist/index.js"),
  memory: join(process.cwd(), "node_modules/@modelcontextprotocol/server-memory/dist/index.js"),
};

export interface Connected {
  client: Client;
  stderr: () => string;
  close(): Promise<void>;
}

/** An MCP SDK client talking to `command` over stdio — through `mcpw run` unless `direct`. */
export async function connectMcp(command: string[], opts: { mcpwArgs?: string[]; cwd: string; direct?: boolean; env?: Record<string, string> }): Promise<Connected> {
  const [cmd, args] = opts.direct ? [command[0]!, command.slice(1)] : [process.execPath, [MCPW_BIN, "run", "-q", ...(opts.mcpwArgs ?? []), "--", ...command]];
  const transport = new StdioClientTransport({ command: cmd, args, cwd: opts.cwd, stderr: "pipe", env: { ...(process.env as Record<string, string>), ...opts.env } });
  let stderr = "";
  transport.stderr?.on("data", (d) => (stderr += d));
  const client = new Client({ name: "mcpw-e2e", version: "1.0.0" });
  await client.connect(transport);
  return { client, stderr: () => stderr, close: () => client.close() };
}

/** Text of a tool result's content. */
export function textOf(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.map((c) => c.text ?? "").join("\n");
}
