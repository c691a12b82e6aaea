import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { MODE_RPC, tunnelSocketName } from "../../protocol/channel.js";
import { SocketLink } from "../../protocol/link.js";

/**
 * The in-sandbox end of the channel (see protocol/channel.ts). Deliberately small and free of
 * dependencies: it is loaded into every Node process in the sandbox, so it must start fast.
 */

export interface ErrorBody {
  code: string;
  message: string;
  errno?: string;
  rule?: string;
}

/** A failed request: carries the supervisor's error body. */
export class ChannelError extends Error {
  constructor(readonly body: ErrorBody) {
    super(body.message);
  }
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class ChannelClient {
  private link: SocketLink | null = null;
  private connecting: Promise<SocketLink> | null = null;
  private readonly pending = new Map<string, Pending>();
  private seq = 0;
  private socket: Socket | null = null;

  constructor(private readonly dir: string) {}

  get socketPath(): string {
    return join(this.dir, "channel.sock");
  }

  async request<T = unknown>(method: string, params: unknown): Promise<T> {
    const link = await this.connectLink();
    const id = `c${++this.seq}`;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      // An answer still to come keeps the program alive; an idle channel does not.
      this.socket?.ref();
      link.sendText(JSON.stringify({ v: 1, kind: "req", id, method, params }));
    });
  }

  /** The one-shot socket that carries the tunnel tunnel.open made. */
  tunnelPath(ticket: string): string {
    return join(this.dir, tunnelSocketName(ticket));
  }

  private connectLink(): Promise<SocketLink> {
    if (this.link?.isOpen) return Promise.resolve(this.link);
    if (this.connecting) return this.connecting;
    this.connecting = new Promise<SocketLink>((resolve, reject) => {
      const socket = connect(this.socketPath);
      socket.once("error", (err) => {
        this.connecting = null;
        reject(err);
      });
      socket.once("connect", () => {
        socket.write(Buffer.from([MODE_RPC]));
        this.socket = socket;
        const link = new SocketLink(socket, "supervisor");
        link.onText((t) => this.onText(t));
        link.onClose((reason) => {
          this.link = null;
          for (const [id, p] of this.pending) {
            this.pending.delete(id);
            p.reject(new ChannelError({ code: "io_error", message: `mcpw channel closed: ${reason}`, errno: "ECONNRESET" }));
          }
        });
        this.link = link;
        this.connecting = null;
        resolve(link);
      });
    });
    return this.connecting;
  }

  private onText(text: string): void {
    let frame: { kind?: string; id?: string; ok?: boolean; result?: unknown; error?: ErrorBody };
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.kind !== "res" || typeof frame.id !== "string") return;
    const p = this.pending.get(frame.id);
    if (!p) return;
    this.pending.delete(frame.id);
    if (this.pending.size === 0) this.socket?.unref();
    if (frame.ok) p.resolve(frame.result);
    else p.reject(new ChannelError(frame.error ?? { code: "internal", message: "malformed error" }));
  }
}
