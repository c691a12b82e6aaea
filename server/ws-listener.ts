import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";
import { McpwError } from "../protocol/errors.js";
import { MAX_FRAME_BYTES } from "../protocol/frames.js";
import { WebSocketLink } from "../protocol/link.js";
import type { McpwServer } from "./server.js";

/** Frames above MAX_FRAME_BYTES get a structured error; only far larger ones make ws drop the socket. */
const HARD_PAYLOAD_LIMIT = 4 * MAX_FRAME_BYTES;

export interface Listening {
  http: Server;
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves the main server over WebSocket on host:port. Browser pages are refused (an Origin header
 * that is not explicitly allowed), so a web page cannot drive a local mcpw.
 */
/** A plain-HTTP route served beside the WebSocket (e.g. /mcp); returns false when the request is not its. */
export type HttpRoute = (req: IncomingMessage, res: ServerResponse) => boolean;

export function listen(server: McpwServer, host = server.config.host, port = server.config.port, routes: HttpRoute[] = []): Promise<Listening> {
  const http = createServer((req, res) => {
    if (routes.some((route) => route(req, res))) return;
    res.writeHead(426, { "content-type": "text/plain" }).end("mcpw server: connect with a WebSocket client (mcpw CLI, TUI or bridge)\n");
  });
  const wss = new WebSocketServer({
    server: http,
    maxPayload: HARD_PAYLOAD_LIMIT,
    verifyClient: (info: { origin: string; req: IncomingMessage }, cb: (ok: boolean, code?: number, msg?: string) => void) => {
      if (info.origin && !server.config.allowedOrigins.includes(info.origin)) return cb(false, 403, "browser origins are not allowed");
      cb(true);
    },
  });
  wss.on("connection", (ws, req) => {
    const remote = req.socket.remoteAddress ?? "unknown";
    server.attach(new WebSocketLink(ws, remote, { heartbeatMs: server.config.heartbeatMs }));
  });
  let listening = false;
  // ws re-emits the HTTP server's errors on the WebSocketServer; unhandled, EADDRINUSE was a crash
  // with a stack. Before listening they reject (below); afterwards they are reported, not fatal.
  wss.on("error", (err) => {
    if (listening) process.stderr.write(`mcpw server: ${err.message}\n`);
  });
  return new Promise((resolveListen, reject) => {
    const failed = (err: NodeJS.ErrnoException) => {
      wss.close();
      reject(listenError(err, host, port));
    };
    http.once("error", failed);
    http.listen(port, host, () => {
      http.off("error", failed);
      listening = true;
      const addr = http.address() as AddressInfo;
      const shownHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
      resolveListen({
        http,
        port: addr.port,
        url: `ws://${shownHost}:${addr.port}`,
        close: () =>
          new Promise((done) => {
            for (const ws of wss.clients) ws.terminate();
            wss.close();
            http.close(() => done());
            http.closeAllConnections?.();
          }),
      });
    });
  });
}

/** One line saying why the server cannot listen on host:port. */
function listenError(err: NodeJS.ErrnoException, host: string, port: number): McpwError {
  const where = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  const errno = err.code ? { errno: err.code } : {};
  switch (err.code) {
    case "EADDRINUSE":
      return new McpwError("io_error", `port ${port} on ${host} is in use`, errno);
    case "EACCES":
      return new McpwError("io_error", `not allowed to listen on ${where} (EACCES)`, errno);
    case "EADDRNOTAVAIL":
      return new McpwError("io_error", `cannot listen on ${where}: ${host} is not an address of this machine`, errno);
    default:
      return new McpwError("io_error", `cannot listen on ${where}: ${err.message}`, errno);
  }
}
