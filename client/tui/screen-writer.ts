/** What ink writes before a frame that is as tall as the terminal (ansi-escapes' clearTerminal). */
const CLEAR = "\x1b[2J\x1b[3J\x1b[H";

/**
 * A stdout for ink that sends only the lines that changed. The TUI always draws the whole screen
 * (so resizes leave nothing behind), and ink then clears the terminal and writes every line, on
 * every change. Over SSH that is a few kilobytes per key press, and a frame split across packets
 * can show as a blank flash. This keeps the last frame and turns the next one into "go to row N,
 * erase it, write it" for each line that differs; a new size or a new line count still gets the
 * full clear and redraw. Everything else ink (or the TUI) writes passes through unchanged.
 */
export function lineDiffStdout(out: NodeJS.WriteStream): NodeJS.WriteStream {
  let previous: string[] | null = null;
  let size = "";
  const write = (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
    const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    if (!text.startsWith(CLEAR)) return (out.write as (...a: unknown[]) => boolean)(chunk, ...rest);
    const lines = text.slice(CLEAR.length).split("\n");
    const now = `${out.columns}x${out.rows}`;
    let data = text;
    if (previous && now === size && previous.length === lines.length) {
      data = "";
      lines.forEach((line, i) => {
        if (line !== previous![i]) data += `\x1b[${i + 1};1H\x1b[2K${line}`;
      });
    }
    previous = lines;
    size = now;
    return (out.write as (...a: unknown[]) => boolean)(data, ...rest);
  };
  return new Proxy(out, {
    get(target, prop) {
      if (prop === "write") return write;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
