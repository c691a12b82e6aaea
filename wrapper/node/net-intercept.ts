import net from "node:net";
import tls from "node:tls";
import type { ChannelClient } from "./channel-client.js";
import { fromChannelError } from "./node-errors.js";

export interface NetContext {
  client: ChannelClient;
  /** Loopback hosts the policy names (host or host:port): those are the host's, reached through the bridge. */
  hostLoopback: string[];
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|::1|0:0:0:0:0:0:0:1|0\.0\.0\.0|::|\[::1\])$/i;

/** "host", "host:port", "[v6]:port" or a bare IPv6 literal → [host, port or null] (as _mcpw/context.py's _host_port). */
function hostPort(entry: string): [string, number | null] {
  const e = entry.toLowerCase();
  if (e.startsWith("[")) {
    const close = e.indexOf("]");
    const rest = close < 0 ? "" : e.slice(close + 1);
    return [e.slice(1, close < 0 ? undefined : close), /^:\d+$/.test(rest) ? Number(rest.slice(1)) : null];
  }
  const parts = e.split(":");
  if (parts.length === 2) return [parts[0]!, /^\d+$/.test(parts[1]!) ? Number(parts[1]) : null];
  return [e, null];
}

/**
 * Where a TCP connection to host:port goes: null when it stays on the sandbox's own loopback,
 * else the host to ask the bridge for. A loopback destination (localhost, 127/8, ::1) is the
 * host's when the policy names a loopback host for that port, and then it is asked for by the
 * name the policy gives (exactly that name first): `--allow-net 127.0.0.1:8080` also serves
 * localhost:8080, and `--allow-net localhost:8080` also 127.0.0.1:8080. Python decides the same
 * (_mcpw/net.py tunnel_host).
 */
export function tunnelHost(host: string, port: number, hostLoopback: string[]): string | null {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  if (!LOOPBACK.test(h)) return host;
  const forPort = hostLoopback.map(hostPort).filter(([, ep]) => ep === null || ep === port);
  return (forPort.find(([eh]) => eh === h) ?? forPort[0])?.[0] ?? null;
}

/** Is host:port a destination outside the sandbox (rather than its own loopback)? */
export function routesToHost(host: string, port: number, hostLoopback: string[]): boolean {
  return tunnelHost(host, port, hostLoopback) !== null;
}

/** An ECONNREFUSED from the sandbox's own loopback says how the host's would be reached (as Python's does). */
function explainLoopbackRefusal(err: NodeJS.ErrnoException, host: string, port: number): void {
  if (err.code !== "ECONNREFUSED" || err.message.includes("(mcpw:")) return;
  const where = host.includes(":") ? `[${host.replace(/^\[|\]$/g, "")}]:${port}` : `${host}:${port}`;
  err.message += ` (mcpw: nothing listens on ${where} inside the sandbox; the host's loopback is reached only where the policy's network.allowedDomains names it (e.g. --allow-net ${where}))`;
}

type ConnectArgs = [options: net.NetConnectOpts & { host?: string; port?: number | string; path?: string }, cb?: () => void];

function normaliseConnectArgs(args: unknown[]): ConnectArgs {
  const a0 = args[0];
  if (Array.isArray(a0)) return normaliseConnectArgs(a0); // net's internal normalised form
  const cb = typeof args.at(-1) === "function" ? (args.at(-1) as () => void) : undefined;
  if (a0 !== null && typeof a0 === "object") return [a0 as ConnectArgs[0], cb];
  if (typeof a0 === "string" && !/^\d+$/.test(a0)) return [{ path: a0 }, cb];
  return [{ port: a0 as number, host: typeof args[1] === "string" ? args[1] : "localhost" }, cb];
}

/**
 * TCP connections out of the sandbox become tunnels: the supervisor asks the bridge to connect
 * (policy checked there, after DNS resolution), and the socket itself is connected to the one-shot
 * unix socket the supervisor offers that connection on. http, https (TLS end to end), tls, and fetch all connect
 * through net.Socket, so they follow. Loopback stays inside the sandbox unless the policy names it.
 */
export function installNetInterceptors(ctx: NetContext): void {
  const origConnect = net.Socket.prototype.connect as (...args: unknown[]) => net.Socket;
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]): net.Socket {
    const [options, cb] = normaliseConnectArgs(args);
    if (options.path || typeof (options as { fd?: unknown }).fd === "number") return origConnect.apply(this, args);
    const asked = options.host ?? "localhost";
    const port = Number(options.port);
    const host = tunnelHost(asked, port, ctx.hostLoopback);
    if (host === null) {
      // The sandbox's own loopback. Node reports a refused connect by destroying the socket with the error.
      const socket = this as net.Socket & { destroy(err?: Error): net.Socket };
      const destroy = socket.destroy;
      socket.destroy = function (this: net.Socket, err?: Error) {
        socket.destroy = destroy;
        if (err) explainLoopbackRefusal(err as NodeJS.ErrnoException, asked, port);
        return destroy.call(this, err);
      };
      socket.once("connect", () => (socket.destroy = destroy));
      return origConnect.apply(this, args);
    }

    const socket = this as net.Socket & { connecting: boolean };
    if (cb) socket.once("connect", cb);
    socket.connecting = true; // writes made meanwhile are queued until 'connect'
    ctx.client.request<{ ticket: string; remoteAddress: string; remotePort: number }>("tunnel.open", { host, port }).then(
      ({ ticket, remoteAddress, remotePort }) => {
        if (socket.destroyed) return;
        Object.defineProperties(socket, {
          remoteAddress: { configurable: true, get: () => remoteAddress },
          remotePort: { configurable: true, get: () => remotePort },
          remoteFamily: { configurable: true, get: () => (remoteAddress.includes(":") ? "IPv6" : "IPv4") },
        });
        origConnect.call(socket, { path: ctx.client.tunnelPath(ticket) });
      },
      (e: unknown) => {
        const err = fromChannelError(e, "connect", undefined);
        const refused = err.code === "EACCES" ? Object.assign(err, { code: "ECONNREFUSED", message: err.message.replace(/^EACCES: permission denied/, "ECONNREFUSED: connection refused") }) : err;
        Object.assign(refused, { address: host, port });
        socket.destroy(refused);
      },
    );
    return socket;
  };

  // A TLSSocket gets its TCP handle when it is constructed, before connect(): it cannot be pointed
  // at a unix socket afterwards. So for a tunnelled destination, TLS runs over a plain socket that
  // the interception above tunnels (TLS is still end to end: SNI and verification use the host name).
  const origTlsConnect = tls.connect as (...args: unknown[]) => tls.TLSSocket;
  (tls as { connect: unknown }).connect = function (this: unknown, ...args: unknown[]): tls.TLSSocket {
    const cb = typeof args.at(-1) === "function" ? (args.at(-1) as () => void) : undefined;
    const options: tls.ConnectionOptions =
      typeof args[0] === "object" && args[0] !== null
        ? { ...(args[0] as tls.ConnectionOptions) }
        : { port: Number(args[0]), ...(typeof args[1] === "string" ? { host: args[1] } : {}), ...(typeof args[1] === "object" ? (args[1] as tls.ConnectionOptions) : typeof args[2] === "object" ? (args[2] as tls.ConnectionOptions) : {}) };
    const host = options.host ?? "localhost";
    const port = Number(options.port ?? 443);
    if (options.socket || options.path || tunnelHost(host, port, ctx.hostLoopback) === null) return origTlsConnect.apply(this, args);
    const raw = net.connect({ host, port });
    return cb ? origTlsConnect.call(this, { ...options, host, port, socket: raw }, cb) : origTlsConnect.call(this, { ...options, host, port, socket: raw });
  };
}
