import { PassThrough } from "node:stream";
import t from "tap";
import { SocketLink } from "../protocol/link.js";

/** Frames as SocketLink writes them: [u32 length][u8 kind][payload]. */
function frame(kind: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length + 1, 0);
  head[4] = kind;
  return Buffer.concat([head, payload]);
}

t.test("SocketLink over a pipe pair: frames in any chunking, large frames, the size limit", async (t) => {
  const input = new PassThrough();
  const output = new PassThrough();
  const link = new SocketLink({ input, output }, "pipes", { maxFrameBytes: 64 * 1024 * 1024 });
  const texts: string[] = [];
  const binaries: Buffer[] = [];
  link.onText((x) => texts.push(x));
  link.onBinary((b) => binaries.push(b));

  // Two frames cut into 3-byte pieces, the header itself split.
  const bytes = Buffer.concat([frame(0, Buffer.from('{"a":1}')), frame(0, Buffer.from("second"))]);
  for (let i = 0; i < bytes.length; i += 3) input.write(bytes.subarray(i, i + 3));
  await new Promise((r) => setImmediate(r));
  t.same(texts, ['{"a":1}', "second"]);

  // A 40 MB binary frame in 64 KiB chunks (as a pipe delivers it) arrives whole and intact.
  const big = Buffer.alloc(40 * 1024 * 1024, 7);
  big[big.length - 1] = 9;
  const framed = frame(1, big);
  const t0 = performance.now();
  for (let i = 0; i < framed.length; i += 65536) input.write(framed.subarray(i, i + 65536));
  await new Promise((r) => setImmediate(r));
  t.equal(binaries.length, 1);
  t.equal(binaries[0]!.length, big.length);
  t.equal(binaries[0]![big.length - 1], 9);
  t.ok(performance.now() - t0 < 5000, "assembled without copying the frame once per chunk");

  // What it writes goes to the output stream, framed.
  link.sendText("out");
  t.same(output.read(), frame(0, Buffer.from("out")));

  const closed = new Promise<string>((r) => link.onClose(r));
  const header = Buffer.alloc(4);
  header.writeUInt32BE(64 * 1024 * 1024 + 2, 0);
  input.write(header);
  t.match(await closed, /frame length \d+ is outside 1\.\.67108865/, "a frame over the limit closes the link");
  t.equal(link.isOpen, false);
});

t.test("SocketLink: a peer that does not read is not buffered for without bound; the link closes and says why", async (t) => {
  const input = new PassThrough();
  // Nobody reads this output: what the link writes stays in the stream's buffer.
  const output = new PassThrough();
  const link = new SocketLink({ input, output }, "pipes", { maxFrameBytes: 1024 * 1024 });
  const closed = new Promise<string>((r) => link.onClose(r));
  const frame = Buffer.alloc(1024 * 1024 - 1, 1);
  let sent = 0;
  // A mere 80 MiB: past any limit the link may keep (64 MiB for 1 MiB frames), far from a crash.
  while (link.isOpen && sent < 80) {
    link.sendBinary(frame);
    sent++;
  }
  t.equal(link.isOpen, false, `the link closed (after ${sent} frames of 1 MiB)`);
  t.match(await closed, /^the peer is not reading: \d+ bytes are waiting to be written, more than the 67108864-byte limit/);
  t.ok(output.destroyed, "the stream is destroyed, not ended: nothing waits to be flushed to a peer that does not read");
  const held = output.writableLength;
  t.ok(held <= 64 * 1024 * 1024, `at most the limit was held (${held} bytes)`);
  link.sendBinary(frame);
  link.sendText("more");
  t.equal(output.writableLength, held, "nothing more is buffered once closed");
});

t.test("SocketLink: a peer that reads can be sent far more than the limit", async (t) => {
  const input = new PassThrough();
  const output = new PassThrough();
  const link = new SocketLink({ input, output }, "pipes", { maxFrameBytes: 1024 * 1024 });
  let received = 0;
  output.on("data", (b: Buffer) => (received += b.length));
  const frame = Buffer.alloc(1024 * 1024 - 1, 1);
  for (let i = 0; i < 200; i++) {
    link.sendBinary(frame);
    if (output.writableNeedDrain) await new Promise((r) => output.once("drain", r));
  }
  t.equal(link.isOpen, true);
  t.equal(received, 200 * (1024 * 1024 + 4));
});
