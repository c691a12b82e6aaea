import type { ReactNode } from "react";
import { Box, Text } from "ink";
import { firstRows, wrapWords } from "./format.js";
import { HelpBar, type HelpKeys } from "./help-bar.js";
import { useNow, useTuiState } from "./hooks.js";

/** The most rows the status line takes: a long message wraps (it must be read), up to this. */
export const MAX_STATUS_ROWS = 3;

const GLOBAL_KEYS: HelpKeys = [
  ["1-4", "views"],
  ["q", "quit"],
];

/** What the status line says: the last action's outcome, or why the connection is down. */
function useStatus(): { text: string; color: string | undefined } {
  const { link, flash } = useTuiState();
  const now = useNow(link.status === "offline" && link.retryAt ? 1000 : 0);
  if (link.status === "offline") {
    const wait = link.retryAt ? `, retrying in ${Math.max(0, Math.ceil((link.retryAt - now) / 1000))} s` : "";
    return { text: `OFFLINE${wait}: ${link.message}`, color: "red" };
  }
  if (link.status === "connecting") return { text: "Connecting...", color: "yellow" };
  if (flash) return { text: flash.text, color: flash.kind === "error" ? "red" : "green" };
  return { text: "", color: undefined };
}

/** The status line's rows at this width: the message wrapped, at most MAX_STATUS_ROWS. */
function useStatusRows(width: number): { rows: string[]; color: string | undefined } {
  const { text, color } = useStatus();
  return { rows: firstRows(wrapWords(text, width), MAX_STATUS_ROWS, width), color };
}

/**
 * Lines a ViewFrame takes for itself below the body: the status line (one row, more while a long
 * message is shown) and the help bar. A view's body has `height - useFrameLines(width)` rows.
 */
export function useFrameLines(width: number): number {
  return useStatusRows(width).rows.length + 1;
}

/**
 * The lower part of the screen, the same in every view: the view's body, the status line (the
 * last action's outcome, or why the connection is down; wrapped, so it can be read whole) and the
 * help bar with the view's keys. While a view has the keyboard to itself (`modal`), the global
 * keys are left out of the help.
 */
export function ViewFrame({ height, width, help, modal = false, status = true, children }: {
  height: number;
  width: number;
  help: HelpKeys;
  modal?: boolean;
  /** false: leave the status line empty (the body already says it all). */
  status?: boolean;
  children: ReactNode;
}) {
  const line = useStatusRows(width);
  const rows = status ? line.rows : [""];
  return (
    <Box flexDirection="column" height={height} width={width}>
      <Box flexDirection="column" height={height - rows.length - 1} width={width} overflow="hidden">
        {children}
      </Box>
      <Box flexDirection="column" height={rows.length} width={width}>
        {rows.map((r, i) => (
          <Text key={i} color={line.color} wrap="truncate-end">
            {r || " "}
          </Text>
        ))}
      </Box>
      <HelpBar keys={modal ? help : [...help, ...GLOBAL_KEYS]} width={width} />
    </Box>
  );
}

/** `height` rows of `lines` from `top` (a scrolled page of text: a result, an audit entry). */
export function TextRows({ lines, top, height }: { lines: string[]; top: number; height: number }) {
  return (
    <Box flexDirection="column" height={height}>
      {lines.slice(top, top + height).map((l, i) => (
        <Text key={top + i} wrap="truncate-end">
          {l || " "}
        </Text>
      ))}
    </Box>
  );
}
