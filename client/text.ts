/**
 * Text from sandboxes (log lines, exit reasons, output) on a terminal, for the CLI and the TUI alike:
 * a sandbox must not be able to move the cursor, retitle the window (OSC), or ring the bell there.
 */

/** Replaces control characters (ESC included) with '?' and tabs with spaces; keeps printable Unicode. */
export function clean(text: string): string {
  return text.replace(/\t/g, "  ").replace(/[\x00-\x1f\x7f-\x9f]/g, "?");
}
