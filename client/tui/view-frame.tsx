import type { ReactNode } from "react";
import { Box, Text } from "ink";
import { HelpBar, type HelpKeys } from "./help-bar.js";
import { useNow, useTuiState } from "./hooks.js";

/** Lines a ViewFrame takes for itself below the body: the status line and the help bar. */
export const FRAME_LINES = 2;

const GLOBAL_KEYS: HelpKeys = [
  ["1-4", "views"],
  ["q", "quit"],
];

/**
 * The lower part of the screen, the same in every view: the view's body, one status line (the
 * last action's outcome, or why the connection is down) and the help bar with the view's keys.
 * While a view has the keyboard to itself (`modal`), the global keys are left out of the help.
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
  return (
    <Box flexDirection="column" height={height} width={width}>
      <Box flexDirection="column" height={height - FRAME_LINES} width={width} overflow="hidden">
        {children}
      </Box>
      {status ? <StatusLine width={width} /> : <Box height={1} />}
      <HelpBar keys={modal ? help : [...help, ...GLOBAL_KEYS]} width={width} />
    </Box>
  );
}

function StatusLine({ width }: { width: number }) {
  const { link, flash } = useTuiState();
  const now = useNow(link.status === "offline" && link.retryAt ? 1000 : 0);
  let text = "";
  let color: string | undefined;
  if (link.status === "offline") {
    const wait = link.retryAt ? `, retrying in ${Math.max(0, Math.ceil((link.retryAt - now) / 1000))} s` : "";
    text = `OFFLINE${wait}: ${link.message}`;
    color = "red";
  } else if (link.status === "connecting") {
    text = "Connecting...";
    color = "yellow";
  } else if (flash) {
    text = flash.text;
    color = flash.kind === "error" ? "red" : "green";
  }
  return (
    <Box height={1} width={width}>
      <Text color={color} wrap="truncate-end">
        {text || " "}
      </Text>
    </Box>
  );
}
