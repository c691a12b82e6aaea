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
    this.chunks.push(headBytes(text, this.limit - this.bytes), `\n[mcpw: ${this.name} cut at ${this.limit} bytes (limits.stdoutBytes)]\n`);
    this.bytes = this.limit;
    this.exceeded = true;
    this.onExceeded();
  }

  text(): string {
    return this.chunks.join("");
  }
}

/** The first `bytes` bytes of `text`, cut on a character boundary (a trailing partial character is dropped). */
function headBytes(text: string, bytes: number): string {
  return Buffer.from(text).subarray(0, bytes).toString("utf8").replace(/\uFFFD$/, "");
}

/** `text` held to `bytes` bytes: past them it is cut and says so. For a process's words (a failure). */
export function cutText(text: string, bytes: number): string {
  return Buffer.byteLength(text) <= bytes ? text : `${headBytes(text, bytes)}… [mcpw: cut at ${bytes} bytes]`;
}

/**
 * A snippet's value, as JSON text, held to `limit` bytes (limits.stdoutBytes) as its output is:
 * a longer one becomes a string, the text's first `limit` bytes and a marker. Null when it fits.
 */
export function cutValue(json: string, limit: number): string | null {
  if (Buffer.byteLength(json) <= limit) return null;
  return `${headBytes(json, limit)}… [mcpw: value cut at ${limit} bytes (limits.stdoutBytes)]`;
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

/**
 * A value (JSON text) that came from the sandboxed Pyodide process, which cut it already (see
 * cutValue) unless it was subverted. The worker's cut value is a JSON string of ASCII JSON text
 * (Python's json.dumps escapes the rest): its quotes and backslashes escaped once more, it is at
 * most twice the cut. Anything larger is cut here, so the limit holds either way.
 */
export function capUntrustedValue(json: string, limit: number): string {
  const cut = Buffer.byteLength(json) > 2 * limit + MARKER_ROOM ? cutValue(json, limit) : null;
  return cut === null ? json : JSON.stringify(cut);
}
