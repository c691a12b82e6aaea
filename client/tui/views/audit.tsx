import { Box, Text } from "ink";
import { matchesAuditFilter } from "../../../protocol/audit-filter.js";
import type { AuditEntry, AuditFilter } from "../../../protocol/methods.js";
import { clean, clock, rule } from "../format.js";
import { clampIndex, useKeys, useTuiState, useViewState } from "../hooks.js";
import { Table, type Column } from "../table.js";
import { useFrameLines, ViewFrame } from "../view-frame.js";

/** The divider and the selected entry in full (as far as it fits). */
const DETAIL_LINES = 4;
const VERDICTS = [undefined, "allow", "deny", "error", "info"] as const;
const VERDICT_COLORS: Record<string, string> = { allow: "green", deny: "red", error: "yellow", info: "gray" };

/** The fields worth a glance, as key=value; the whole entry is in the detail pane. */
export function auditSummary(e: AuditEntry): string {
  const skip = new Set(["ts", "event", "verdict", "capabilities", "isolation"]);
  return Object.entries(e)
    .filter(([k, v]) => !skip.has(k) && v !== undefined && v !== null)
    .map(([k, v]) => {
      if (k === "origin" && typeof v === "object") return `origin=${(v as { kind?: string; id?: string }).kind}:${(v as { id?: string }).id}`;
      return `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`;
    })
    .join(" ");
}

const COLUMNS: Column<AuditEntry>[] = [
  { title: "TIME", width: 8, value: (e) => clock(e.ts) },
  { title: "VERDICT", width: 7, value: (e) => e.verdict, color: (e) => VERDICT_COLORS[e.verdict] },
  { title: "EVENT", width: 17, value: (e) => e.event },
  { title: "DETAILS", width: 0, grow: true, value: auditSummary },
];

/** The next value of a cycle (undefined = no filter). */
function next<T>(values: readonly (T | undefined)[], current: T | undefined): T | undefined {
  return values[(values.indexOf(current) + 1) % values.length];
}

/**
 * The Audit view: a live tail of privileged operations and auth events, filtered by sandbox,
 * bridge and verdict with the same rule as the server's audit.tail. It follows new entries until
 * the person moves up, and again after G.
 */
export function AuditView({ height, width }: { height: number; width: number }) {
  const { audit, sandboxes, bridges } = useTuiState();
  const [filter, setFilter] = useViewState<AuditFilter>("audit:filter", {});
  // null: follow the newest entry.
  const [sel, setSel] = useViewState<number | null>("audit:selected", null);
  const rows = audit.filter((e) => matchesAuditFilter(filter, e));
  const index = sel === null ? rows.length - 1 : clampIndex(sel, rows.length);
  const seen = (key: "sandbox" | "bridge", known: string[]) => [...new Set([...known, ...audit.map((e) => e[key]).filter((v): v is string => typeof v === "string")])].sort();
  const body = height - useFrameLines(width);
  const pick = (i: number) => setSel(i >= rows.length - 1 ? null : Math.max(0, i));
  useKeys((input, key) => {
    if (key.upArrow || input === "k") pick(index - 1);
    else if (key.downArrow || input === "j") pick(index + 1);
    else if (key.pageUp) pick(index - (body - DETAIL_LINES - 2));
    else if (key.pageDown) pick(index + (body - DETAIL_LINES - 2));
    else if (input === "g") pick(0);
    else if (input === "G") setSel(null);
    else if (input === "v") setFilter({ ...filter, verdict: next(VERDICTS, filter.verdict) });
    else if (input === "s") setFilter({ ...filter, sandbox: next([undefined, ...seen("sandbox", sandboxes.map((s) => s.id))], filter.sandbox) });
    else if (input === "b") setFilter({ ...filter, bridge: next([undefined, ...seen("bridge", bridges.map((b) => b.name))], filter.bridge) });
    else if (input === "c") setFilter({});
    else return;
    if (input === "v" || input === "s" || input === "b" || input === "c") setSel(null);
  });
  const current = rows[index];
  const f = (label: string, v: string | undefined) => (
    <Text>
      {label} <Text bold color={v ? "cyan" : undefined}>{v ?? "all"}</Text>
      {"  "}
    </Text>
  );
  return (
    <ViewFrame
      height={height}
      width={width}
      help={[
        ["v", "verdict"],
        ["s", "sandbox"],
        ["b", "bridge"],
        ["c", "clear"],
        ["G", "follow"],
      ]}
    >
      <Text wrap="truncate-end">
        {f("verdict", filter.verdict)}
        {f("sandbox", filter.sandbox)}
        {f("bridge", filter.bridge)}
        <Text dimColor>{sel === null ? `${rows.length} entries, following` : `entry ${index + 1} of ${rows.length}`}</Text>
      </Text>
      <Table columns={COLUMNS} rows={rows} selected={index} height={body - 1 - DETAIL_LINES} width={width} empty={audit.length ? "No entries match the filter (c clears it)." : "No audit entries yet."} />
      <Text dimColor>{rule(current ? `${current.event} at ${current.ts}` : "", width)}</Text>
      <Box height={DETAIL_LINES - 1} width={width} overflow="hidden">
        <Text wrap="wrap">{current ? clean(JSON.stringify(current)) : " "}</Text>
      </Box>
    </ViewFrame>
  );
}
