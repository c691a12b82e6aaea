import type { Duplex, Readable, Writable } from "node:stream";
import type { WebSocket } from "ws";
import { MAX_FRAME_BYTES } from "./constants.js";

/**
 * A link carries text frames (JSON) and binary frames (stream data) between two peers. The same
 * peer logic runs over a WebSocket, over a unix socket with length-prefixed frames, and in memory
 * (the embedded `mcpw run` server and bridge).
 */
export interface Link {
  sendText(text: string): void;
  sendBinary(data: Buffer): void;
  close(reason?: string): void;
  onText(cb: (text: string) => void): void;
  onBinary(cb: (data: Buffer) => void): void;
  onClose(cb: (reason: string) => void): void;
  /**
   * Frames above this many bytes are not decoded: onTooLarge is called instead. Links that receive
   * bytes (WebSocket) check before decoding; others leave it to the peer.
   */
  maxFrameBytes: number;
  onTooLarge(cb: (bytes: number, binary: boolean) => void): void;
  readonly remoteAddress: string;
  readonly isOpen: boolean;
}

type Listeners = {
  text: ((t: string) => void)[];
  binary: ((b: Buffer) => void)[];
  close: ((r: string) => void)[];
  tooLarge: ((bytes: number, binary: boolean) => void)[];
};

abstract class BaseLink implements Link {
  protected listeners: Listeners = { text: [], binary: [], close: [], tooLarge: [] };
  protected open = true;
  maxFrameBytes = MAX_FRAME_BYTES;
  abstract readonly remoteAddress: string;
  abstract sendText(text: string): void;
  abstract sendBinary(data: Buffer): void;
  abstract close(reason?: string): void;

  get isOpen(): boolean {
    return this.open;
  }
  onText(cb: (text: string) => void): void {
    this.listeners.text.push(cb);
  }
  onBinary(cb: (data: Buffer) => void): void {
    this.listeners.binary.push(cb);
  }
  onClose(cb: (reason: string) => void): void {
    this.listeners.close.push(cb);
  }
  onTooLarge(cb: (bytes: number, binary: boolean) => void): void {
    this.listeners.tooLarge.push(cb);
  }
  protected emitTooLarge(bytes: number, binary: boolean): void {
    for (const cb of this.listeners.tooLarge) cb(bytes, binary);
  }
  protected emitText(t: string): void {
    for (const cb of this.listeners.text) cb(t);
  }
  protected emitBinary(b: Buffer): void {
    for (const cb of this.listeners.binary) cb(b);
  }
  protected emitClose(reason: string): void {
    if (!this.open) return;
    this.open = false;
    for (const cb of this.listeners.close) cb(reason);
  }
}

export interface WebSocketLinkOptions {
  /**
   * Liveness check: every `heartbeatMs` a ping is sent; a peer that has answered neither it nor
   * sent anything else by the next one is dropped (so within 2 × heartbeatMs of going silent).
   * A stopped process or a vanished host never closes its socket; without this it would look
   * connected forever. 0 or absent: no heartbeat.
   */
  heartbeatMs?: number;
}

/** A WebSocket (from `ws`) as a link. */
export class WebSocketLink extends BaseLink {
  readonly remoteAddress: string;
  private readonly ws: WebSocket;
  private alive = true;

  constructor(ws: WebSocket, remoteAddress: string, opts: WebSocketLinkOptions = {}) {
    super();
    this.ws = ws;
    this.remoteAddress = remoteAddress;
    ws.on("message", (data, isBinary) => {
      this.alive = true;
      // Bytes, counted before anything is decoded or parsed (12 MiB of two-byte characters is 6 Mi
      // characters).
      const bytes = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
      if (bytes > this.maxFrameBytes) return this.emitTooLarge(bytes, isBinary);
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (isBinary) this.emitBinary(buf);
      else this.emitText(buf.toString("utf8"));
    });
    ws.on("pong", () => (this.alive = true));
    ws.on("close", (code, reason) => this.emitClose(reason.toString() || `closed (${code})`));
    ws.on("error", (err) => this.emitClose(err.message));
    if (opts.heartbeatMs && opts.heartbeatMs > 0) this.startHeartbeat(opts.heartbeatMs);
  }

  private startHeartbeat(ms: number): void {
    const timer = setInterval(() => {
      if (!this.alive) {
        this.emitClose(`no answer to a heartbeat within ${ms} ms`);
        this.ws.terminate();
        return;
      }
      this.alive = false;
      if (this.ws.readyState === this.ws.OPEN) this.ws.ping();
    }, ms);
    timer.unref();
    this.onClose(() => clearInterval(timer));
  }

  sendText(text: string): void {
    if (this.open && this.ws.readyState === this.ws.OPEN) this.ws.send(text);
  }
  sendBinary(data: Buffer): void {
    if (this.open && this.ws.readyState === this.ws.OPEN) this.ws.send(data, { binary: true });
  }
  close(reason = "closed"): void {
    // WebSocket close reasons are limited to 123 bytes.
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
      this.ws.close(1000, Buffer.from(reason).subarray(0, 120).toString());
    }
    this.emitClose(reason);
  }
}

/** One stream both ways (a socket), or a pair (a child process's stdout and stdin). */
export type ByteStreams = Duplex | { input: Readable; output: Writable };

/**
 * Bytes a SocketLink keeps waiting for a peer that reads slowly, at the least: many answers to a
 * peer that is busy for a moment (each up to a frame) must not close its link.
 */
const MIN_BUFFERED_BYTES = 64 * 1024 * 1024;

/**
 * A byte stream (unix socket into a sandbox, or a child's stdio pipes) as a link. Frames are
 * `[u32 length][u8 kind: 0 text, 1 binary][payload]`, length counting kind + payload; a frame
 * longer than `maxFrameBytes` closes the link.
 *
 * What is written waits in the output stream until the peer reads it. A peer that asks and never
 * reads the answers (an untrusted sandbox) would have this side hold them all: once more than
 * `maxBufferedBytes` wait (default: two frames of `maxFrameBytes`, and at least 64 MiB), the link
 * is closed with that reason and what waits is let go.
 */
export class SocketLink extends BaseLink {
  readonly remoteAddress: string;
  private readonly input: Readable;
  private readonly output: Writable;
  /** A frame longer than this closes the link (the peer's own `maxFrameBytes` answers too_large below it). */
  private readonly closeAboveBytes: number;
  /** More than this waiting in the output stream closes the link. */
  private readonly maxBufferedBytes: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(streams: ByteStreams, remoteAddress = "unix", options: { maxFrameBytes?: number; maxBufferedBytes?: number } = {}) {
    super();
    const pair = "input" in streams ? streams : { input: streams, output: streams };
    this.input = pair.input;
    this.output = pair.output;
    this.remoteAddress = remoteAddress;
    this.closeAboveBytes = options.maxFrameBytes ?? MAX_FRAME_BYTES;
    this.maxBufferedBytes = options.maxBufferedBytes ?? Math.max(2 * (this.closeAboveBytes + 5), MIN_BUFFERED_BYTES);
    this.input.on("data", (chunk: Buffer) => this.onData(chunk));
    this.input.on("close", () => this.emitClose("socket closed"));
    this.input.on("error", (err) => this.emitClose(err.message));
    if ((this.output as unknown) !== this.input) this.output.on("error", (err) => this.emitClose(err.message));
  }

  private onData(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    while (this.pendingBytes >= 4) {
      if (this.pending[0]!.length < 4) this.pending = [Buffer.concat(this.pending)];
      const len = this.pending[0]!.readUInt32BE(0);
      if (len < 1 || len > this.closeAboveBytes + 1) {
        this.close(`frame length ${len} is outside 1..${this.closeAboveBytes + 1}`);
        return;
      }
      // A large frame arrives in many chunks: they are joined once it is whole, not on each chunk.
      if (this.pendingBytes < 4 + len) return;
      const head = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
      const kind = head[4];
      const payload = head.subarray(5, 4 + len);
      const rest = head.subarray(4 + len);
      this.pending = rest.length ? [rest] : [];
      this.pendingBytes = rest.length;
      if (kind === 0) this.emitText(payload.toString("utf8"));
      else if (kind === 1) this.emitBinary(Buffer.from(payload));
      else {
        this.close(`unknown frame kind ${kind}`);
        return;
      }
    }
  }

  private write(kind: number, payload: Buffer): void {
    if (!this.open) return;
    const waiting = this.output.writableLength + 5 + payload.length;
    if (waiting > this.maxBufferedBytes) {
      this.output.destroy();
      this.emitClose(`the peer is not reading: ${waiting} bytes are waiting to be written, more than the ${this.maxBufferedBytes}-byte limit`);
      return;
    }
    const head = Buffer.allocUnsafe(5);
    head.writeUInt32BE(payload.length + 1, 0);
    head.writeUInt8(kind, 4);
    this.output.write(Buffer.concat([head, payload]));
  }

  sendText(text: string): void {
    this.write(0, Buffer.from(text, "utf8"));
  }
  sendBinary(data: Buffer): void {
    this.write(1, data);
  }
  close(reason = "closed"): void {
    this.output.end();
    this.emitClose(reason);
  }
}

/** Two links joined in memory; frames are delivered asynchronously, as on a real socket. */
export function memoryLinkPair(nameA = "memory", nameB = "memory"): [Link, Link] {
  const a = new MemoryLink(nameB);
  const b = new MemoryLink(nameA);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class MemoryLink extends BaseLink {
  readonly remoteAddress: string;
  peer: MemoryLink | null = null;

  constructor(remoteAddress: string) {
    super();
    this.remoteAddress = remoteAddress;
  }
  sendText(text: string): void {
    const p = this.peer;
    if (this.open && p) queueMicrotask(() => p.open && p.emitText(text));
  }
  sendBinary(data: Buffer): void {
    const p = this.peer;
    if (this.open && p) {
      const copy = Buffer.from(data);
      queueMicrotask(() => p.open && p.emitBinary(copy));
    }
  }
  close(reason = "closed"): void {
    const p = this.peer;
    this.emitClose(reason);
    if (p) queueMicrotask(() => p.emitClose(reason));
  }
}
