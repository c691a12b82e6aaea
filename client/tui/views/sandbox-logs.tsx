import { useEffect, useState } from "react";
import { Box, Text } from "ink";
import type { LogLine } from "../../../protocol/methods.js";
import { clock, wrapWords } from "../format.js";
import type { HelpKeys } from "../help-bar.js";
import { useKeys, useStore, useTuiState } from "../hooks.js";
import { useFrameLines, ViewFrame } from "../view-frame.js";

const LOG_KEYS: HelpKeys = [
  ["esc/q", "back"],
  ["up/dn", "scroll"],
  ["pgup/pgdn", "page"],
  ["g/G", "top/follow"],
];

/** "HH:MM:SS " before each line; a long line goes on below, under its text. */
const TIME = 9;

interface Row {
  key: string;
  /** The line's time on its first row; null on the rows it wraps onto. */
  time: string | null;
  text: string;
  system: boolean;
}

/** One log line as the rows it takes: wrapped within width - 1 columns, never cut (an exit reason must be read whole). */
function rowsOf(l: LogLine, width: number): Row[] {
  const parts = wrapWords(`${l.stream === "system" ? "[mcpw] " : ""}${l.text}`, Math.max(8, width - 1 - TIME));
  return parts.map((text, i) => ({ key: `${l.seq}.${i}`, time: i === 0 ? clock(l.at) : null, text, system: l.stream === "system" }));
}

/**
 * A sandbox's stderr and lifecycle lines, live: it follows the end as lines arrive until the
 * person scrolls up, and follows again with G (or by scrolling back to the end). Long lines wrap.
 */
export function SandboxLogs({ id, height, width, onBack }: { id: string; height: number; width: number; onBack(): void }) {
  const store = useStore();
  const { logs, sandboxes, link } = useTuiState();
  const online = link.status === "online";
  useEffect(() => {
    if (online) void store.openLogs(id);
  }, [id, online, store]);
  const lines = logs[id] ?? [];
  const sb = sandboxes.find((s) => s.id === id);
  const visible = height - useFrameLines(width) - 1;
  // The first line from which the rest fit on the page: scrolling there is following the end.
  let last = lines.length;
  for (let used = 0; last > 0; last--) {
    used += rowsOf(lines[last - 1]!, width).length;
    if (used > visible) break;
  }
  last = Math.min(last, Math.max(0, lines.length - 1));
  // null: follow the end; otherwise the index of the first line shown.
  const [top, setTop] = useState<number | null>(null);
  let rows: Row[] = [];
  let first: number;
  let shownTo: number;
  if (top === null) {
    // The end, at the bottom of the page; the top line may show only its last rows.
    first = lines.length;
    while (first > 0 && rows.length < visible) rows = [...rowsOf(lines[--first]!, width), ...rows];
    rows = rows.slice(-visible);
    shownTo = lines.length;
  } else {
    first = Math.min(top, last);
    shownTo = first;
    while (shownTo < lines.length && rows.length < visible) rows.push(...rowsOf(lines[shownTo++]!, width));
    rows = rows.slice(0, visible);
  }
  const scrollTo = (n: number) => setTop(n >= last ? null : Math.max(0, n));
  useKeys((input, key) => {
    if (key.escape || input === "q") onBack();
    else if (key.upArrow || input === "k") scrollTo(first - 1);
    else if (key.downArrow || input === "j") scrollTo(first + 1);
    else if (key.pageUp) scrollTo(first - visible);
    else if (key.pageDown || input === " ") scrollTo(first + Math.max(1, shownTo - first - 1));
    else if (input === "g") scrollTo(0);
    else if (input === "G") setTop(null);
  });
  const where = top === null ? "following" : `lines ${first + 1}-${shownTo} of ${lines.length}; G to follow`;
  return (
    <ViewFrame height={height} width={width} modal help={LOG_KEYS}>
      <Text bold wrap="truncate-end">
        Logs of {id}
        {sb ? ` (${sb.name}, ${sb.state})` : " (removed)"} - {where}
      </Text>
      <Box flexDirection="column" height={visible}>
        {lines.length === 0 ? <Text dimColor>(no lines yet)</Text> : null}
        {rows.map((r) => (
          <Text key={r.key} wrap="truncate-end" color={r.system ? "cyan" : undefined}>
            <Text dimColor>{r.time === null ? " ".repeat(TIME) : `${r.time} `}</Text>
            {r.text || " "}
          </Text>
        ))}
      </Box>
    </ViewFrame>
  );
}
