import type { IncomingMessage, ServerResponse } from "node:http";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { McpwServer } from "../../server/server.js";
import { snippetMcpServer } from "./mcp-tools.js";
import type { SnippetService } from "./snippet-service.js";

/**
 * `POST /mcp` on `mcpw serve`: the snippet tools over Streamable HTTP (stateless: a fresh MCP
 * server and transport per request). Guarded by a bearer token: the server's ADMIN token (the one
 * in <state-dir>/admin.token), checked like a WebSocket login — rate-limited per address, and every
 * failure audited. A bridge token is refused: it authenticates a bridge, not a client.
 */
export const MCP_PATH = "/mcp";

export function mcpHttpHandler(server: McpwServer, service: SnippetService): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname !== MCP_PATH) return false;
    const remote = req.socket.remoteAddress ?? "unknown";
    const header = req.headers.authorization ?? "";
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    try {
      if (!token) throw new Error("missing bearer token: send Authorization: Bearer <admin token>");
      server.authenticateHttp(remote, token);
    } catch (e) {
      res.writeHead(401, { "content-type": "application/json", "www-authenticate": 'Bearer realm="mcpw"' });
      res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32001, message: `unauthorized: ${(e as Error).message}` }, id: null }));
      return true;
    }
    void serve(req, res, service);
    return true;
  };
}

async function serve(req: IncomingMessage, res: ServerResponse, service: SnippetService): Promise<void> {
  const mcp = snippetMcpServer(service);
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on("close", () => {
    void transport.close();
    void mcp.close();
  });
  try {
    await mcp.connect(transport);
    await transport.handleRequest(req, res);
  } catch (e) {
    if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32603, message: (e as Error).message }, id: null }));
  }
}
