import { connect as tcpConnect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { McpwError } from "../protocol/errors.js";
import type { OpResult } from "../protocol/ops.js";
import { Deadline } from "./deadline.js";
import { checkDestination, type NetworkRules, type Resolver, type VettedAddress } from "./destination-check.js";
import { formatHostPort } from "./host-pattern.js";
import { ioError } from "./io-error.js";
import type { OpOf } from "./op-types.js";

/**
 * net.connect and net.resolve. A connection goes to an address the destination check vetted (the
 * name is never resolved again), then its bytes are piped both ways through the caller's stream.
 */

export interface NetOptions {
  resolver?: Resolver;
  /** How long resolving and all connection attempts together may take. */
  connectTimeoutMs: number;
}

function connectOne(address: VettedAddress, port: number, deadline: Deadline): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // allowHalfOpen: the peer's FIN ends one direction only; ours is sent when the stream ends.
    const socket = tcpConnect({ host: address.address, port, family: address.family, allowHalfOpen: true, noDelay: true });
    const fail = (err: unknown): void => {
      deadline.signal.removeEventListener("abort", onAbort);
      socket.destroy();
      reject(err);
    };
    const onAbort = (): void => fail(deadline.signal.reason);
    deadline.signal.addEventListener("abort", onAbort, { once: true });
    socket.once("error", fail);
    socket.once("connect", () => {
      deadline.signal.removeEventListener("abort", onAbort);
      socket.removeListener("error", fail);
      resolve(socket);
    });
  });
}

/** Tries the vetted addresses in order until one accepts, before the deadline. */
export async function connectVetted(addresses: readonly VettedAddress[], port: number, deadline: Deadline, what: string): Promise<Socket> {
  let lastError: unknown;
  for (const address of addresses) {
    if (deadline.signal.aborted) break;
    try {
      return await deadline.race(connectOne(address, port, deadline));
    } catch (err) {
      lastError = err;
    }
  }
  if (lastError === undefined) throw new McpwError("timeout", `connecting to ${what} timed out`);
  throw ioError(lastError, `connect to ${what}`);
}

/**
 * Pipes a socket and a stream into each other. Half-close is kept: the end of one direction (FIN
 * from the peer, END on the stream) ends only that direction. An error or abort on either side
 * destroys both.
 */
export function splice(socket: Socket, stream: Duplex): void {
  socket.pipe(stream);
  stream.pipe(socket);
  socket.on("error", (err) => stream.destroy(err));
  stream.on("error", () => socket.destroy());
  socket.on("close", () => {
    if (!socket.readableEnded) stream.destroy(new McpwError("io_error", "the connection was closed", { errno: "ECONNRESET" }));
  });
  stream.on("close", () => {
    if (!stream.readableEnded || !stream.writableFinished) socket.destroy();
  });
}

export class NetworkOperations {
  private readonly options: NetOptions;

  constructor(options: NetOptions) {
    this.options = options;
  }

  async connect(op: OpOf<"net.connect">, rules: readonly NetworkRules[], openStream: (id: number) => Duplex): Promise<OpResult<"net.connect">> {
    const what = formatHostPort(op.host, op.port);
    const deadline = new Deadline(this.options.connectTimeoutMs, `connecting to ${what}`);
    let socket: Socket;
    try {
      const dest = await deadline.race(checkDestination(op.host, op.port, rules, { resolver: this.options.resolver, field: "op.host" }));
      socket = await connectVetted(dest.addresses, op.port, deadline, what);
    } finally {
      deadline.clear();
    }
    let stream: Duplex;
    try {
      stream = openStream(op.stream);
    } catch (err) {
      socket.destroy();
      throw err;
    }
    splice(socket, stream);
    return { stream: op.stream, remoteAddress: socket.remoteAddress ?? "", remotePort: socket.remotePort ?? op.port };
  }

  async resolve(op: OpOf<"net.resolve">, rules: readonly NetworkRules[]): Promise<OpResult<"net.resolve">> {
    const dest = await checkDestination(op.host, undefined, rules, { resolver: this.options.resolver, family: op.family, field: "op.host" });
    return { addresses: dest.addresses.map((a) => ({ address: a.address, family: a.family })) };
  }
}
