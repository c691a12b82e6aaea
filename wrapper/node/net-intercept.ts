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

/** Is host:port a loopback destination the policy points at the host (rather than the sandbox itself)? */
export function routesToHost(host: string, port: number, hostLoopback: string[]): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  if (!LOOPBACK.test(h)) return true;
  return hostLoopback.some((entry) => {
    const m = /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(entry.toLowerCase());
    if (!m) return false;
    const [, eh, ep] = m;
    return eh === h && (ep === undefined || Number(ep) === port);
  });
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
    const host = options.host ?? "localhost";
    const port = Number(options.port);
    if (!routesToHost(host, port, ctx.hostLoopback)) return origConnect.apply(this, args);

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
    if (options.socket || options.path || !routesToHost(host, port, ctx.hostLoopback)) return origTlsConnect.apply(this, args);
    const raw = net.connect({ host, port });
    return cb ? origTlsConnect.call(this, { ...options, host, port, socket: raw }, cb) : origTlsConnect.call(this, { ...options, host, port, socket: raw });
  };
}
