import { randomBytes } from "node:crypto";
import { McpwError, toErrorBody } from "./errors.js";
import { MAX_FRAME_BYTES } from "./constants.js";
import { errorFrame, eventFrame, okFrame, parseFrame, requestFrame, type RequestFrame } from "./frames.js";
import type { Link } from "./link.js";
import { StreamMux } from "./streams.js";

export type Dispatch = (method: string, params: unknown, peer: Peer) => Promise<unknown> | unknown;
export type EventHandler = (event: string, data: unknown, peer: Peer) => void;

export interface PeerOptions {
  /** Answers the other side's requests. Throw McpwError for a coded error. */
  dispatch?: Dispatch;
  onEvent?: EventHandler;
  /** Timeout of outgoing requests, unless the call gives its own. */
  defaultTimeoutMs?: number;
  /** Incoming requests being handled at once before further ones are refused. */
  maxInFlight?: number;
  /** Stream ids this side allocates start here (1 or 2: the two ends use odd and even ids). */
  firstStreamId?: 1 | 2;
  /** The error outstanding requests fail with when the link closes. */
  closedError?: (reason: string) => McpwError;
  /** Called with each frame that failed validation (after it has been answered). */
  onBadFrame?: (err: McpwError) => void;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
  method: string;
}

/**
 * One end of a link: sends requests and correlates their responses by id, answers incoming
 * requests through `dispatch`, delivers events, and carries multiplexed byte streams. A frame that
 * fails validation is answered with a structured error and the link stays up.
 */
export class Peer {
  readonly link: Link;
  readonly streams: StreamMux;
  private readonly pending = new Map<string, Pending>();
  private readonly opts: PeerOptions;
  private readonly idPrefix = randomBytes(4).toString("hex");
  private seq = 0;
  private inFlight = 0;
  private closeReason: string | null = null;
  private readonly closeWaiters: ((reason: string) => void)[] = [];
  private readonly eventListeners = new Set<EventHandler>();
  private frameLimitNote = "";

  constructor(link: Link, opts: PeerOptions = {}) {
    this.link = link;
    this.opts = opts;
    this.streams = new StreamMux((buf) => link.sendBinary(buf), opts.firstStreamId ?? 1);
    link.onText((t) => this.onText(t));
    link.onBinary((b) => this.streams.handle(b));
    link.onClose((reason) => this.onClose(reason));
    link.onTooLarge((bytes, binary) => this.tooLarge(`${binary ? "binary " : ""}frame of ${bytes} bytes`));
  }

  /**
   * Sets the largest frame this side reads (at most MAX_FRAME_BYTES); `note` ends the too_large
   * message, e.g. "before authentication".
   */
  limitFrames(bytes: number, note = ""): void {
    this.link.maxFrameBytes = Math.min(bytes, MAX_FRAME_BYTES);
    this.frameLimitNote = note;
  }

  private tooLarge(what: string): void {
    const limit = this.link.maxFrameBytes;
    const err = new McpwError("too_large", `${what} exceeds the ${limit}-byte limit${this.frameLimitNote ? ` ${this.frameLimitNote}` : ""}`);
    this.link.sendText(JSON.stringify(errorFrame(null, err.toBody())));
    this.opts.onBadFrame?.(err);
  }

  get isOpen(): boolean {
    return this.closeReason === null && this.link.isOpen;
  }

  /** Resolves when the link closes, with the reason. */
  closed(): Promise<string> {
    if (this.closeReason !== null) return Promise.resolve(this.closeReason);
    return new Promise((res) => this.closeWaiters.push(res));
  }

  /** Adds a listener for events from the other side; returns a function that removes it. */
  onEvent(listener: EventHandler): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  setDispatch(dispatch: Dispatch): void {
    this.opts.dispatch = dispatch;
  }

  request<T = unknown>(method: string, params?: unknown, timeoutMs?: number): Promise<T> {
    if (!this.isOpen) return Promise.reject(this.closedError(this.closeReason ?? "link closed"));
    const id = `${this.idPrefix}-${++this.seq}`;
    const ms = timeoutMs ?? this.opts.defaultTimeoutMs ?? 30_000;
    return new Promise<T>((resolve, reject) => {
      const timer =
        ms > 0
          ? setTimeout(() => {
              this.pending.delete(id);
              reject(new McpwError("timeout", `${method} got no answer within ${ms} ms`));
            }, ms)
          : null;
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer, method });
      this.link.sendText(JSON.stringify(requestFrame(id, method, params)));
    });
  }

  notify(event: string, data: unknown): void {
    if (this.isOpen) this.link.sendText(JSON.stringify(eventFrame(event, data)));
  }

  close(reason = "closed"): void {
    this.link.close(reason);
  }

  private onText(text: string): void {
    // A WebSocket link has checked the bytes before decoding; links in memory or over a socket
    // leave it to here.
    if (text.length > this.link.maxFrameBytes / 3) {
      const bytes = Buffer.byteLength(text);
      if (bytes > this.link.maxFrameBytes) return this.tooLarge(`frame of ${bytes} bytes`);
    }
    const parsed = parseFrame(text);
    if ("error" in parsed) {
      this.link.sendText(JSON.stringify(errorFrame(parsed.id, parsed.error.toBody())));
      this.opts.onBadFrame?.(parsed.error);
      return;
    }
    const frame = parsed.frame;
    if (frame.kind === "req") return void this.onRequest(frame);
    if (frame.kind === "event") {
      this.opts.onEvent?.(frame.event, frame.data, this);
      for (const l of this.eventListeners) l(frame.event, frame.data, this);
      return;
    }
    if (!frame.ok && frame.id === null) {
      // The other side could not read one of our frames; nothing to correlate it with.
      this.opts.onBadFrame?.(McpwError.fromBody(frame.error));
      return;
    }
    if (frame.id === null) return;
    const p = this.pending.get(frame.id);
    if (!p) return; // late answer after a timeout
    this.pending.delete(frame.id);
    if (p.timer) clearTimeout(p.timer);
    if (frame.ok) p.resolve(frame.result);
    else p.reject(McpwError.fromBody(frame.error));
  }

  private async onRequest(frame: RequestFrame): Promise<void> {
    const max = this.opts.maxInFlight ?? 256;
    if (this.inFlight >= max) {
      this.link.sendText(
        JSON.stringify(errorFrame(frame.id, { code: "rate_limited", message: `too many requests in flight on this connection (limit ${max})` })),
      );
      return;
    }
    const dispatch = this.opts.dispatch;
    if (!dispatch) {
      this.link.sendText(JSON.stringify(errorFrame(frame.id, { code: "unknown_method", message: `this side answers no requests (got ${frame.method})` })));
      return;
    }
    this.inFlight++;
    try {
      const result = await dispatch(frame.method, frame.params, this);
      this.link.sendText(JSON.stringify(okFrame(frame.id, result)));
    } catch (err) {
      this.link.sendText(JSON.stringify(errorFrame(frame.id, toErrorBody(err))));
    } finally {
      this.inFlight--;
    }
  }

  private closedError(reason: string): McpwError {
    return this.opts.closedError?.(reason) ?? new McpwError("bridge_gone", `connection closed: ${reason}`);
  }

  private onClose(reason: string): void {
    if (this.closeReason !== null) return;
    this.closeReason = reason;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      if (p.timer) clearTimeout(p.timer);
      p.reject(this.closedError(reason));
    }
    this.streams.destroyAll(new McpwError("io_error", `link closed: ${reason}`, { errno: "ECONNRESET" }));
    for (const w of this.closeWaiters.splice(0)) w(reason);
  }
}
