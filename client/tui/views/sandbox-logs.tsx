import { useEffect, useState } from "react";
import { Box, Text } from "ink";
import { clean, clock } from "../format.js";
import type { HelpKeys } from "../help-bar.js";
import { useKeys, useStore, useTuiState } from "../hooks.js";
import { FRAME_LINES, ViewFrame } from "../view-frame.js";

const LOG_KEYS: HelpKeys = [
  ["esc", "back"],
  ["up/dn", "scroll"],
  ["pgup/pgdn", "page"],
  ["g/G", "top/follow"],
];

/**
 * A sandbox's stderr and lifecycle lines, live: it follows the end as lines arrive until the
 * person scrolls up, and follows again with G (or by scrolling back to the end).
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
  const visible = height - FRAME_LINES - 1;
  const last = Math.max(0, lines.length - visible);
  // null: follow the end; otherwise the index of the first line shown.
  const [top, setTop] = useState<number | null>(null);
  const first = top === null ? last : Math.min(top, last);
  const scrollTo = (n: number) => setTop(n >= last ? null : Math.max(0, n));
  useKeys((input, key) => {
    if (key.escape || input === "q") onBack();
    else if (key.upArrow || input === "k") scrollTo(first - 1);
    else if (key.downArrow || input === "j") scrollTo(first + 1);
    else if (key.pageUp) scrollTo(first - visible);
    else if (key.pageDown || input === " ") scrollTo(first + visible);
    else if (input === "g") scrollTo(0);
    else if (input === "G") setTop(null);
  });
  const where = top === null ? "following" : `lines ${first + 1}-${Math.min(lines.length, first + visible)} of ${lines.length}; G to follow`;
  return (
    <ViewFrame height={height} width={width} modal help={LOG_KEYS}>
      <Text bold wrap="truncate-end">
        Logs of {id}
        {sb ? ` (${sb.name}, ${sb.state})` : " (removed)"} - {where}
      </Text>
      <Box flexDirection="column" height={visible}>
        {lines.length === 0 ? <Text dimColor>(no lines yet)</Text> : null}
        {lines.slice(first, first + visible).map((l) => (
          <Text key={l.seq} wrap="truncate-end" color={l.stream === "system" ? "cyan" : undefined}>
            <Text dimColor>{clock(l.at)} </Text>
            {l.stream === "system" ? "[mcpw] " : ""}
            {clean(l.text) || " "}
          </Text>
        ))}
      </Box>
    </ViewFrame>
  );
}
