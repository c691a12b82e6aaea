import { useState } from "react";
import { Box, Text } from "ink";
import { matchesAuditFilter } from "../../../protocol/audit-filter.js";
import type { AuditEntry, AuditFilter } from "../../../protocol/methods.js";
import { clock, firstRows, fit, rule, wrapWords } from "../format.js";
import type { HelpKeys } from "../help-bar.js";
import { clampIndex, useCapture, useKeys, useTuiState, useViewState } from "../hooks.js";
import { Table, type Column } from "../table.js";
import { TextRows, useFrameLines, ViewFrame } from "../view-frame.js";

/** The selected entry's pane under the list: at least, and at most, this many rows (divider excluded). */
const DETAIL_ROWS = { min: 3, max: 6 };
/** What went wrong, shown first in the pane: the rest of an entry is often longer and less urgent. */
const FIRST_FIELDS = ["error", "reason"];
const VERDICTS = [undefined, "allow", "deny", "error", "info"] as const;
const VERDICT_COLORS: Record<string, string> = { allow: "green", deny: "red", error: "yellow", info: "gray" };

/** A field's value in a line: an origin as kind:id, strings as they are, the rest as JSON. */
const value = (k: string, v: unknown) => (k === "origin" && typeof v === "object" && v !== null ? `${(v as { kind?: string }).kind}:${(v as { id?: string }).id}` : typeof v === "string" ? v : JSON.stringify(v));

/** The fields worth a glance, as key=value; the detail pane and Enter show the whole entry. */
export function auditSummary(e: AuditEntry): string {
  const skip = new Set(["ts", "event", "verdict", "capabilities", "isolation"]);
  return Object.entries(e)
    .filter(([k, v]) => !skip.has(k) && v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${value(k, v)}`)
    .join(" ");
}

const COLUMNS: Column<AuditEntry>[] = [
  { title: "TIME", width: 8, value: (e) => clock(e.ts) },
  { title: "VERDICT", width: 7, value: (e) => e.verdict, color: (e) => VERDICT_COLORS[e.verdict] },
  { title: "EVENT", width: 17, value: (e) => e.event },
  { title: "DETAILS", width: 0, grow: true, value: auditSummary },
];

/**
 * The selected entry for the pane under the list, as paragraphs: what the row already shows (time,
 * verdict, event) is left out; the error or reason comes first, each on its own, then every other
 * field as key=value.
 */
export function auditDetail(e: AuditEntry): { text: string; first: boolean }[] {
  const fields = Object.entries(e).filter(([k, v]) => !["ts", "event", "verdict"].includes(k) && v !== undefined && v !== null);
  const first = fields.filter(([k]) => FIRST_FIELDS.includes(k)).map(([k, v]) => ({ text: `${k}: ${value(k, v)}`, first: true }));
  const rest = fields.filter(([k]) => !FIRST_FIELDS.includes(k)).map(([k, v]) => `${k}=${value(k, v)}`);
  return rest.length ? [...first, { text: rest.join(" "), first: false }] : first;
}

const ENTRY_KEYS: HelpKeys = [
  ["esc/q", "back"],
  ["up/dn", "scroll"],
  ["pgup/pgdn", "page"],
];

/** One audit entry whole, as indented JSON, long values wrapped; scrolls when it is taller than the page. */
function AuditEntryPage({ entry, height, width, onBack }: { entry: AuditEntry; height: number; width: number; onBack(): void }) {
  const [top, setTop] = useState(0);
  const rows = JSON.stringify(entry, null, 2)
    .split("\n")
    .flatMap((l) => wrapWords(l, width - 1));
  const visible = height - useFrameLines(width) - 1;
  const max = Math.max(0, rows.length - visible);
  const at = Math.min(top, max);
  useKeys((input, key) => {
    if (key.escape || input === "q" || key.return) onBack();
    else if (key.upArrow || input === "k") setTop(Math.max(0, at - 1));
    else if (key.downArrow || input === "j") setTop(Math.min(max, at + 1));
    else if (key.pageUp) setTop(Math.max(0, at - visible));
    else if (key.pageDown || input === " ") setTop(Math.min(max, at + visible));
    else if (input === "g") setTop(0);
    else if (input === "G") setTop(max);
  });
  return (
    <ViewFrame height={height} width={width} modal help={ENTRY_KEYS}>
      <Text bold wrap="truncate-end">
        {fit(`Audit entry: ${entry.event} at ${entry.ts}${max > 0 ? ` - rows ${at + 1}-${Math.min(rows.length, at + visible)} of ${rows.length}` : ""}`, width)}
      </Text>
      <TextRows lines={rows} top={at} height={visible} />
    </ViewFrame>
  );
}

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
  // The entry shown whole on a page of its own (Enter).
  const [open, setOpen] = useState<AuditEntry | null>(null);
  useCapture(open !== null);
  const rows = audit.filter((e) => matchesAuditFilter(filter, e));
  const index = sel === null ? rows.length - 1 : clampIndex(sel, rows.length);
  const seen = (key: "sandbox" | "bridge", known: string[]) => [...new Set([...known, ...audit.map((e) => e[key]).filter((v): v is string => typeof v === "string")])].sort();
  const body = height - useFrameLines(width);
  const current = rows[index];
  const detail = firstRows(
    (current ? auditDetail(current) : []).flatMap((p) => wrapWords(p.text, width).map((text) => ({ text, first: p.first }))),
    DETAIL_ROWS.max,
    width,
  );
  const detailRows = Math.max(DETAIL_ROWS.min, detail.length);
  const page = body - detailRows - 3;
  const pick = (i: number) => setSel(i >= rows.length - 1 ? null : Math.max(0, i));
  useKeys(
    (input, key) => {
      if (key.upArrow || input === "k") pick(index - 1);
      else if (key.downArrow || input === "j") pick(index + 1);
      else if (key.pageUp) pick(index - page);
      else if (key.pageDown) pick(index + page);
      else if (input === "g") pick(0);
      else if (input === "G") setSel(null);
      else if (key.return && current) setOpen(current);
      else if (input === "v") setFilter({ ...filter, verdict: next(VERDICTS, filter.verdict) });
      else if (input === "s") setFilter({ ...filter, sandbox: next([undefined, ...seen("sandbox", sandboxes.map((s) => s.id))], filter.sandbox) });
      else if (input === "b") setFilter({ ...filter, bridge: next([undefined, ...seen("bridge", bridges.map((b) => b.name))], filter.bridge) });
      else if (input === "c") setFilter({});
      else return;
      if (input === "v" || input === "s" || input === "b" || input === "c") setSel(null);
    },
    { isActive: open === null },
  );
  if (open) return <AuditEntryPage entry={open} height={height} width={width} onBack={() => setOpen(null)} />;
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
        ["enter", "open"],
      ]}
    >
      <Text wrap="truncate-end">
        {f("verdict", filter.verdict)}
        {f("sandbox", filter.sandbox)}
        {f("bridge", filter.bridge)}
        <Text dimColor>{sel === null ? `${rows.length} entries, following` : `entry ${index + 1} of ${rows.length}`}</Text>
      </Text>
      <Table columns={COLUMNS} rows={rows} selected={index} height={body - 2 - detailRows} width={width} empty={audit.length ? "No entries match the filter (c clears it)." : "No audit entries yet."} />
      <Text dimColor>{rule(current ? `${current.event} at ${current.ts} (enter: all of it)` : "", width)}</Text>
      <Box flexDirection="column" height={detailRows} width={width}>
        {detail.map((r, i) => (
          <Text key={i} color={r.first ? VERDICT_COLORS[current!.verdict] : undefined} wrap="truncate-end">
            {r.text || " "}
          </Text>
        ))}
      </Box>
    </ViewFrame>
  );
}
