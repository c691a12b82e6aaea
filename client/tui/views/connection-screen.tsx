import { Box, Text } from "ink";
import type { LinkState } from "../connection.js";
import type { HelpKeys } from "../help-bar.js";
import { wrapWords } from "../format.js";
import { useKeys, useNow, useStore } from "../hooks.js";
import { ViewFrame } from "../view-frame.js";

const TITLES: Record<string, string> = {
  unreachable: "Cannot reach the mcpw server",
  unauthorized: "The server refused the admin token",
  "no-token": "No admin token",
  "rate-limited": "Locked out for a while",
  lost: "Connection lost",
  setup: "Connected, but loading failed",
};

const CONNECTION_KEYS: HelpKeys = [
  ["r", "retry now"],
  ["q", "quit"],
];

/** Shown until the first successful connection: what is wrong, what to do, and when it retries. */
export function ConnectionScreen({ link, url, height, width }: { link: LinkState; url: string; height: number; width: number }) {
  const store = useStore();
  const now = useNow();
  useKeys((input) => {
    if (input === "r") store.retryNow();
  });
  const retry =
    link.status !== "offline"
      ? ""
      : link.retryAt
        ? `Retrying in ${Math.max(0, Math.ceil((link.retryAt - now) / 1000))} s (attempt ${link.attempt}).`
        : "Waiting for the token file to change.";
  return (
    <ViewFrame height={height} width={width} status={false} modal help={CONNECTION_KEYS}>
      <Box flexDirection="column" paddingX={1} paddingY={1} width={width}>
        {link.status === "offline" ? (
          <>
            <Text bold color="red">
              {TITLES[link.problem] ?? "Not connected"}
            </Text>
            <Text> </Text>
            {wrapWords(link.message, width - 2).map((row, i) => (
              <Text key={`m${i}`}>{row}</Text>
            ))}
            <Text> </Text>
            {wrapWords(link.hint, width - 2).map((row, i) => (
              <Text key={`h${i}`}>{row}</Text>
            ))}
            <Text> </Text>
            <Text color="yellow">{retry}</Text>
          </>
        ) : (
          <Text>
            Connecting to {url}
            {link.status === "connecting" && link.attempt > 1 ? ` (attempt ${link.attempt})` : ""}...
          </Text>
        )}
      </Box>
    </ViewFrame>
  );
}
