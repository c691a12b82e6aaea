import { Duplex } from "node:stream";
import { McpwError } from "./errors.js";

/**
 * Byte streams (tunnelled TCP connections) multiplexed over one link as binary frames:
 *
 *   [u8 type][u32 stream id, big-endian][payload]
 *
 * DATA carries bytes, END says the sender will write no more (half-close), RESET aborts the stream
 * (payload: a UTF-8 reason), ACK returns send credit (payload: u32 bytes consumed). Each direction of
 * a stream may have at most STREAM_WINDOW unacknowledged bytes in flight, so a slow reader can never
 * make the other side (or the server relaying between them) buffer without bound.
 */
export enum StreamFrameType {
  Data = 1,
  End = 2,
  Reset = 3,
  Ack = 4,
}

export const STREAM_WINDOW = 1024 * 1024;
const MAX_DATA_FRAME = 64 * 1024;
const HEADER = 5;

export interface StreamFrame {
  type: StreamFrameType;
  id: number;
  payload: Buffer;
}

export function encodeStreamFrame(type: StreamFrameType, id: number, payload?: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(HEADER + (payload?.length ?? 0));
  buf.writeUInt8(type, 0);
  buf.writeUInt32BE(id, 1);
  if (payload) payload.copy(buf, HEADER);
  return buf;
}

export function decodeStreamFrame(buf: Buffer): StreamFrame {
  if (buf.length < HEADER) throw new McpwError("bad_frame", `binary frame of ${buf.length} bytes is shorter than its 5-byte header`);
  const type = buf.readUInt8(0);
  if (!(type in StreamFrameType) || type === 0) throw new McpwError("bad_frame", `binary frame has unknown type ${type}`);
  const id = buf.readUInt32BE(1);
  if (id === 0) throw new McpwError("bad_frame", "binary frame has stream id 0");
  const payload = buf.subarray(HEADER);
  if (type === StreamFrameType.Ack && payload.length !== 4) throw new McpwError("bad_frame", "ACK frame must carry exactly 4 bytes");
  return { type, id, payload };
}

/** One multiplexed stream, as a Node Duplex: pipe a socket into it and it into the socket. */
export class MuxStream extends Duplex {
  readonly id: number;
  private readonly mux: StreamMux;
  private inFlight = 0;
  private unacked = 0;
  private waiting: (() => void) | null = null;
  private remoteEnded = false;
  private localEnded = false;

  constructor(mux: StreamMux, id: number) {
    super({ allowHalfOpen: true });
    this.id = id;
    this.mux = mux;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    let offset = 0;
    const pump = (): void => {
      while (offset < chunk.length) {
        if (this.destroyed) return cb(new Error("stream destroyed"));
        if (this.inFlight >= STREAM_WINDOW) {
          this.waiting = pump;
          return;
        }
        const n = Math.min(MAX_DATA_FRAME, chunk.length - offset, STREAM_WINDOW - this.inFlight);
        this.mux.sendFrame(StreamFrameType.Data, this.id, chunk.subarray(offset, offset + n));
        this.inFlight += n;
        offset += n;
      }
      cb();
    };
    pump();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.localEnded = true;
    this.mux.sendFrame(StreamFrameType.End, this.id);
    this.maybeForget();
    cb();
  }

  override _read(): void {
    this.sendAck();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!(this.localEnded && this.remoteEnded)) {
      this.mux.sendFrame(StreamFrameType.Reset, this.id, Buffer.from(err?.message ?? "closed"));
    }
    this.mux.forget(this.id);
    const w = this.waiting;
    this.waiting = null;
    w?.();
    cb(err);
  }

  /** Called by the mux for each frame addressed to this stream. */
  receive(frame: StreamFrame): void {
    switch (frame.type) {
      case StreamFrameType.Data:
        if (this.remoteEnded) return this.abort("peer sent data after END");
        this.unacked += frame.payload.length;
        if (this.unacked > STREAM_WINDOW) return this.abort(`peer overran the ${STREAM_WINDOW}-byte stream window`);
        if (this.push(frame.payload)) this.sendAck();
        return;
      case StreamFrameType.End:
        this.remoteEnded = true;
        this.push(null);
        this.maybeForget();
        return;
      case StreamFrameType.Reset:
        this.remoteEnded = true;
        this.localEnded = true;
        this.destroy(new McpwError("io_error", frame.payload.toString("utf8") || "stream reset by peer", { errno: "ECONNRESET" }));
        return;
      case StreamFrameType.Ack: {
        this.inFlight = Math.max(0, this.inFlight - frame.payload.readUInt32BE(0));
        const w = this.waiting;
        this.waiting = null;
        w?.();
        return;
      }
    }
  }

  private sendAck(): void {
    if (this.unacked === 0 || this.destroyed) return;
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(this.unacked, 0);
    this.unacked = 0;
    this.mux.sendFrame(StreamFrameType.Ack, this.id, b);
  }

  private abort(reason: string): void {
    this.destroy(new McpwError("bad_frame", reason));
  }

  private maybeForget(): void {
    if (this.localEnded && this.remoteEnded) this.mux.forget(this.id);
  }
}

/** The streams of one link. */
export class StreamMux {
  private readonly streams = new Map<number, MuxStream>();
  private nextId: number;
  private readonly send: (buf: Buffer) => void;

  /** `firstId` lets the two ends of a link allocate from disjoint ranges (odd/even). */
  constructor(send: (buf: Buffer) => void, firstId = 1) {
    this.send = send;
    this.nextId = firstId;
  }

  /** A fresh id for a stream this side opens. */
  allocateId(): number {
    const id = this.nextId;
    this.nextId += 2;
    if (this.nextId > 0xffffffff) this.nextId -= 0xfffffffe;
    return id;
  }

  /** Creates the local end of stream `id`. Frames for it that arrive later are delivered to it. */
  open(id: number): MuxStream {
    if (this.streams.has(id)) throw new McpwError("conflict", `stream ${id} is already open`);
    const s = new MuxStream(this, id);
    this.streams.set(id, s);
    return s;
  }

  has(id: number): boolean {
    return this.streams.has(id);
  }

  get size(): number {
    return this.streams.size;
  }

  /** Handles one binary frame from the link. Frames for unknown streams are answered with RESET. */
  handle(buf: Buffer): void {
    let frame: StreamFrame;
    try {
      frame = decodeStreamFrame(buf);
    } catch {
      return; // a malformed binary frame has no stream to answer on; drop it
    }
    const s = this.streams.get(frame.id);
    if (!s) {
      if (frame.type !== StreamFrameType.Reset && frame.type !== StreamFrameType.Ack) {
        this.sendFrame(StreamFrameType.Reset, frame.id, Buffer.from("no such stream"));
      }
      return;
    }
    s.receive(frame);
  }

  sendFrame(type: StreamFrameType, id: number, payload?: Buffer): void {
    this.send(encodeStreamFrame(type, id, payload));
  }

  forget(id: number): void {
    this.streams.delete(id);
  }

  /** Destroys every stream, e.g. when the link closes. */
  destroyAll(err: Error): void {
    for (const s of [...this.streams.values()]) s.destroy(err);
    this.streams.clear();
  }
}
