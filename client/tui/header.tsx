import { Box, Text } from "ink";
import { fit } from "./format.js";
import { useTuiState } from "./hooks.js";

export const VIEWS = [
  ["sandboxes", "Sandboxes"],
  ["bridges", "Bridges"],
  ["tokens", "Tokens"],
  ["audit", "Audit"],
] as const;
export type ViewName = (typeof VIEWS)[number][0];

/** Lines the header takes. */
export const HEADER_LINES = 2;

/** The title line (server, environment, serving bridge, link) and the view tabs. */
export function Header({ view, width }: { view: ViewName; width: number }) {
  const { url, server, link, bridges, selectedEnv } = useTuiState();
  const serving = bridges.find((b) => b.active && b.env === selectedEnv);
  const status = link.status === "online" ? "online" : link.status === "connecting" ? "connecting" : "OFFLINE";
  const left = ` mcpw ${url}${server ? `  env ${server.env}` : ""}${server ? `  bridge ${serving?.name ?? "none"}` : ""}`;
  return (
    <Box flexDirection="column" height={HEADER_LINES} width={width}>
      <Text inverse wrap="truncate-end">
        {/* A space always parts the (possibly cut) left side from the status. */}
        {fit(left, Math.max(0, width - status.length - 2))}{" "}
        <Text color={link.status === "online" ? "green" : "red"}>{status}</Text>
        {" "}
      </Text>
      <Text wrap="truncate-end">
        {VIEWS.map(([name, label], i) => (
          <Text key={name}>
            {" "}
            {name === view ? <Text inverse bold>{`[${i + 1} ${label}]`}</Text> : <Text>{` ${i + 1} ${label} `}</Text>}
          </Text>
        ))}
      </Text>
    </Box>
  );
}
