import WebSocket from "ws";
import { McpwError } from "../protocol/errors.js";
import { WebSocketLink } from "../protocol/link.js";
import type { MethodName, ParamsInput, Result, Role } from "../protocol/methods.js";
import { Peer, type PeerOptions } from "../protocol/peer.js";

export const DEFAULT_SERVER_URL = "ws://127.0.0.1:7800";
/** How often a client or bridge pings the server; a server silent for two of these is given up on. */
export const DEFAULT_HEARTBEAT_MS = 15_000;

export interface ConnectOptions extends PeerOptions {
  /** See WebSocketLinkOptions.heartbeatMs; default DEFAULT_HEARTBEAT_MS, 0 turns it off. */
  heartbeatMs?: number;
}

export interface ServerConnection {
  peer: Peer;
  call<M extends MethodName>(method: M, params?: ParamsInput<M>, timeoutMs?: number): Promise<Result<M>>;
  close(): void;
  server: { version: string; env: string };
  tokenId: string;
}

/** Opens a WebSocket to the server, with a clear error when nothing answers. */
export function openWebSocket(url: string, timeoutMs = 10_000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, { handshakeTimeout: timeoutMs, maxPayload: 64 * 1024 * 1024 });
    } catch (e) {
      reject(new McpwError("bad_params", `invalid server URL ${url}: ${(e as Error).message}`));
      return;
    }
    ws.once("open", () => resolve(ws));
    ws.once("error", (err: NodeJS.ErrnoException) => {
      const why = err.code === "ECONNREFUSED" ? "connection refused; is `mcpw serve` running?" : err.message;
      reject(new McpwError("io_error", `cannot reach the mcpw server at ${url}: ${why}`, err.code ? { errno: err.code } : {}));
    });
  });
}

/** Connects and authenticates as `role`. Events and requests from the server go to `opts`. */
export async function connectToServer(url: string, token: string, role: Role, opts: ConnectOptions = {}): Promise<ServerConnection> {
  const { heartbeatMs = DEFAULT_HEARTBEAT_MS, ...peerOpts } = opts;
  const ws = await openWebSocket(url);
  const peer = new Peer(new WebSocketLink(ws, url, { heartbeatMs }), { defaultTimeoutMs: 30_000, firstStreamId: 1, ...peerOpts });
  let auth: Result<"auth">;
  try {
    auth = await peer.request<Result<"auth">>("auth", { role, token });
  } catch (e) {
    peer.close("authentication failed");
    throw e;
  }
  return {
    peer,
    server: auth.server,
    tokenId: auth.tokenId,
    call: (method, params, timeoutMs) => peer.request(method, params ?? {}, timeoutMs),
    close: () => peer.close("client done"),
  };
}
