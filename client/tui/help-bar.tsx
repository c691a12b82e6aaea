import { Box, Text } from "ink";
import { fit } from "./format.js";

/** [key, what it does]. */
export type HelpKeys = [string, string][];

/** While a yes/no question is asked. */
export const CONFIRM_KEYS: HelpKeys = [
  ["y", "yes"],
  ["any other key", "no"],
];

/** The keys of the current view, on the last line, two spaces apart; what does not fit is cut. */
export function HelpBar({ keys, width }: { keys: HelpKeys; width: number }) {
  let used = 0;
  const shown: HelpKeys = [];
  for (const [k, label] of keys) {
    const w = (shown.length ? 2 : 0) + k.length + 1 + label.length;
    if (used + w > width) break;
    shown.push([k, label]);
    used += w;
  }
  return (
    <Box height={1} width={width}>
      <Text wrap="truncate-end">
        {shown.map(([k, label], i) => (
          <Text key={k}>
            {i ? "  " : ""}
            <Text inverse>{k}</Text> {label}
          </Text>
        ))}
        {fit("", width - used)}
      </Text>
    </Box>
  );
}
