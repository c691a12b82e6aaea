import { MAX_FRAME_BYTES } from "../protocol/constants.js";
import { McpwError, parseOrThrow } from "../protocol/errors.js";
import { Methods, type MethodName, type Role } from "../protocol/methods.js";
import { Peer } from "../protocol/peer.js";
import type { Link } from "../protocol/link.js";
import type { RegisteredBridge } from "./bridge-registry.js";

/** Largest frame read from a connection that has not authenticated yet. */
export const PRE_AUTH_MAX_FRAME_BYTES = 64 * 1024;

export type Topic = "audit" | "sandboxes" | "bridges" | "logs";

/** What a connection's handlers may call back into. */
export interface ConnectionHost {
  authenticate(conn: Connection, role: Role, token: string): unknown;
  handle(conn: Connection, method: MethodName, params: unknown): Promise<unknown>;
  detach(conn: Connection): void;
  readonly authTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

/**
 * One client or bridge connection. Before authentication only `auth` is answered; after it, only
 * the methods of the connection's role. Params are checked against the method's schema here, so
 * handlers receive parsed values and bad input is answered with the field that is wrong.
 */
export class Connection {
  role: Role | null = null;
  tokenId: string | null = null;
  bridge: RegisteredBridge | null = null;
  readonly topics = new Set<Topic>();
  readonly peer: Peer;
  private readonly authTimer: NodeJS.Timeout;

  constructor(
    private readonly host: ConnectionHost,
    link: Link,
  ) {
    this.peer = new Peer(link, {
      dispatch: (method, params) => this.dispatch(method, params),
      defaultTimeoutMs: host.requestTimeoutMs,
      // The server opens streams to bridges with even ids; the other side uses odd ones.
      firstStreamId: 2,
    });
    // Until it authenticates, a connection may send only small frames (auth is a few hundred
    // bytes): nobody unauthenticated makes the server decode and parse megabytes.
    this.peer.limitFrames(PRE_AUTH_MAX_FRAME_BYTES, "before authentication");
    this.authTimer = setTimeout(() => {
      if (this.role === null) this.peer.close(`not authenticated within ${host.authTimeoutMs} ms`);
    }, host.authTimeoutMs);
    this.authTimer.unref();
    void this.peer.closed().then(() => {
      clearTimeout(this.authTimer);
      host.detach(this);
    });
  }

  get remoteAddress(): string {
    return this.peer.link.remoteAddress;
  }

  private async dispatch(method: string, params: unknown): Promise<unknown> {
    const spec = Object.hasOwn(Methods, method) ? Methods[method as MethodName] : undefined;
    const roles: readonly string[] | undefined = spec?.roles;
    if (!spec || !roles || !(roles.includes("public") || roles.includes("client") || roles.includes("bridge"))) {
      throw new McpwError("unknown_method", `unknown method "${method}"`, { field: "method" });
    }
    if (this.role === null && !roles.includes("public")) {
      throw new McpwError("unauthorized", `authenticate first: send "auth" with your token before "${method}"`);
    }
    if (this.role !== null && !roles.includes(this.role)) {
      throw new McpwError("forbidden", `"${method}" is not available to a ${this.role} connection`, { field: "method" });
    }
    const parsed = parseOrThrow(spec.params, params ?? {}, "bad_params", "params");
    if (method === "auth") {
      const { role, token } = parsed as { role: Role; token: string };
      if (this.role !== null) throw new McpwError("conflict", `this connection is already authenticated as ${this.role}`);
      const result = this.host.authenticate(this, role, token);
      this.peer.limitFrames(MAX_FRAME_BYTES);
      return result;
    }
    return this.host.handle(this, method as MethodName, parsed);
  }
}
