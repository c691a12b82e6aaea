/**
 * One output stream of a snippet, capped at `limits.stdoutBytes`. Past the cap the text is cut at
 * the limit, a marker is appended, and `onExceeded` fires once so the runner can end the run
 * (a flood would otherwise spin until the timeout).
 */
export class CappedOutput {
  private readonly chunks: string[] = [];
  private bytes = 0;
  exceeded = false;

  constructor(
    private readonly limit: number,
    private readonly name: "stdout" | "stderr",
    private readonly onExceeded: () => void,
  ) {}

  write(text: string): void {
    if (this.exceeded || text.length === 0) return;
    const size = Buffer.byteLength(text);
    if (this.bytes + size <= this.limit) {
      this.chunks.push(text);
      this.bytes += size;
      return;
    }
    const room = this.limit - this.bytes;
    // Cut on a character boundary: decode the allowed bytes and drop a trailing partial character.
    const head = Buffer.from(text).subarray(0, room).toString("utf8").replace(/\uFFFD$/, "");
    this.chunks.push(head, `\n[mcpw: ${this.name} cut at ${this.limit} bytes (limits.stdoutBytes)]\n`);
    this.bytes = this.limit;
    this.exceeded = true;
    this.onExceeded();
  }

  text(): string {
    return this.chunks.join("");
  }
}

/** Room for the marker CappedOutput appends past the cap. */
const MARKER_ROOM = 128;

/**
 * An output that came from the sandboxed Pyodide process, which cut it already unless it was
 * subverted: anything past the cap and its marker is cut here, so the limit holds either way.
 */
export function capUntrusted(text: string, limit: number, name: "stdout" | "stderr"): string {
  if (Buffer.byteLength(text) <= limit + MARKER_ROOM) return text;
  const capped = new CappedOutput(limit, name, () => undefined);
  capped.write(text);
  return capped.text();
}
