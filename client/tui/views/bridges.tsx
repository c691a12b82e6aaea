import { Box, Text } from "ink";
import type { BridgeInfo } from "../../../protocol/methods.js";
import { ago, clock, fit, rule } from "../format.js";
import { useKeys, useNow, useSelection, useTuiState } from "../hooks.js";
import { Table, type Column } from "../table.js";
import { useFrameLines, ViewFrame } from "../view-frame.js";

const DETAIL_LINES = 6;

function columns(now: number, selectedEnv: string | null): Column<BridgeInfo>[] {
  return [
    { title: "NAME", width: 14, value: (b) => b.name },
    { title: "ENV", width: 6, value: (b) => b.env },
    { title: "ACTIVE", width: 8, value: (b) => (b.active ? (b.env === selectedEnv ? "SERVING" : "active") : "standby"), color: (b) => (b.active ? (b.env === selectedEnv ? "green" : "cyan") : "gray") },
    { title: "CONNECTED", width: 9, value: (b) => ago(b.connectedSince, now).replace(" ago", "") },
    { title: "SERVED", width: 7, align: "right", value: (b) => String(b.requestsServed) },
    { title: "LAST ERROR", width: 0, grow: true, value: (b) => b.lastError ?? "-", color: (b) => (b.lastError ? "red" : undefined) },
  ];
}

/**
 * The Bridges view: bridges per environment, which one is active (and whether it is the one that
 * serves this server's selected environment), their capabilities, connection age, requests
 * served and last error.
 */
export function BridgesView({ height, width }: { height: number; width: number }) {
  const { bridges, selectedEnv } = useTuiState();
  useNow(5000); // ages move on
  const now = Date.now();
  const rows = [...bridges].sort((a, b) => a.env.localeCompare(b.env) || Number(b.active) - Number(a.active));
  const { index, current, moveTo } = useSelection("bridges", rows, (b) => b.id);
  const serving = bridges.find((b) => b.active && b.env === selectedEnv);
  useKeys((input, key) => {
    if (key.upArrow || input === "k") moveTo(index - 1);
    else if (key.downArrow || input === "j") moveTo(index + 1);
  });
  const body = height - useFrameLines(width);
  return (
    <ViewFrame height={height} width={width} help={[["up/dn", "select"]]}>
      <Text wrap="truncate-end">
        Selected environment: <Text bold>{selectedEnv ?? "?"}</Text>
        {"   "}
        {serving ? (
          <Text color="green">served by {serving.name}</Text>
        ) : (
          <Text color="red">NO ACTIVE BRIDGE: privileged operations fail</Text>
        )}
      </Text>
      <Table columns={columns(now, selectedEnv)} rows={rows} selected={index} height={body - 1 - DETAIL_LINES} width={width} empty={`No bridges connected. Create a token (view 3), then: mcpw bridge --env ${selectedEnv ?? "<env>"} ...`} />
      <Details bridge={current} width={width} />
    </ViewFrame>
  );
}

function Details({ bridge: b, width }: { bridge: BridgeInfo | undefined; width: number }) {
  if (!b) return <Box height={DETAIL_LINES} />;
  const line = (label: string, items: string[]) => (
    <Text wrap="truncate-end">
      <Text bold>{fit(label, 11)}</Text>
      {items.length ? items.join(", ") : <Text dimColor>none</Text>}
    </Text>
  );
  const caps = b.capabilities;
  return (
    <Box flexDirection="column" height={DETAIL_LINES} width={width}>
      <Text dimColor>{rule(`${b.name} (${b.id}) from ${b.remoteAddress}, since ${clock(b.connectedSince)}`, width)}</Text>
      {line("fs read", caps.fs.readonly)}
      {line("fs write", caps.fs.readwrite)}
      {line("net allow", caps.network.allowedDomains)}
      {line("net deny", caps.network.deniedDomains)}
      {line("exec", caps.exec)}
    </Box>
  );
}
