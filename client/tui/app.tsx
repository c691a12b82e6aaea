import { useState } from "react";
import { Box, Text } from "ink";
import { Header, HEADER_LINES, VIEWS, type ViewName } from "./header.js";
import { CaptureContext, InputContext, useKeys, useStore, useTerminalSize, useTuiState } from "./hooks.js";
import { AuditView } from "./views/audit.js";
import { BridgesView } from "./views/bridges.js";
import { ConnectionScreen } from "./views/connection-screen.js";
import { SandboxesView } from "./views/sandboxes.js";
import { TokensView } from "./views/tokens.js";

export const MIN_SIZE = { columns: 60, rows: 16 };

const BODIES = { sandboxes: SandboxesView, bridges: BridgesView, tokens: TokensView, audit: AuditView };

/**
 * The screen: header with tabs, then the current view. The whole screen is drawn at the terminal's
 * size on every change, so it stays whole through resizes. Global keys (1-4 and Tab switch views,
 * q quits) are off while a view has the keyboard (a form, an editor, a sub-page); ^C always quits.
 *
 * A terminal smaller than MIN_SIZE gets a message instead, but the view stays mounted (hidden, at
 * the smallest size), so what it holds survives: a token shown only once, a half-typed form, an
 * open log page. Meanwhile no key reaches it; ^C and q quit.
 */
export function App({ onQuit }: { onQuit(): void }) {
  const store = useStore();
  const { link, server, url } = useTuiState();
  const { columns, rows } = useTerminalSize();
  const [view, setView] = useState<ViewName>("sandboxes");
  const [captured, setCaptured] = useState(false);
  const show = (v: ViewName) => {
    store.clearFlash();
    setView(v);
  };
  useKeys((input, key) => {
    if (key.ctrl && input === "c") onQuit();
  });
  const tooSmall = columns < MIN_SIZE.columns || rows < MIN_SIZE.rows;
  useKeys(
    (input, key) => {
      const at = VIEWS.findIndex(([name]) => name === view);
      if (input === "q") onQuit();
      else if (tooSmall) return;
      else if (/^[1-4]$/.test(input)) show(VIEWS[Number(input) - 1]![0]);
      else if (key.tab) show(VIEWS[(at + (key.shift ? VIEWS.length - 1 : 1)) % VIEWS.length]![0]);
    },
    { isActive: !captured || tooSmall },
  );
  const Body = BODIES[view];
  const width = Math.max(columns, MIN_SIZE.columns);
  const height = Math.max(rows, MIN_SIZE.rows);
  return (
    <CaptureContext.Provider value={setCaptured}>
      <InputContext.Provider value={!tooSmall}>
        {tooSmall ? (
          <Box width={columns} height={rows}>
            <Text wrap="wrap">
              The terminal is {columns}x{rows}; mcpw tui needs at least {MIN_SIZE.columns}x{MIN_SIZE.rows}. q quits.
            </Text>
          </Box>
        ) : null}
        <Box display={tooSmall ? "none" : "flex"} flexDirection="column" width={width} height={height} overflow="hidden">
          <Header view={view} width={width} />
          {/* Offline, the connection screen replaces a view, unless the view holds the keyboard (a
              form, an editor, a token shown once): that one stays, with the problem on its status line. */}
          {server === null || (link.status !== "online" && !captured) ? (
            <ConnectionScreen link={link} url={url} height={height - HEADER_LINES} width={width} />
          ) : (
            <Body height={height - HEADER_LINES} width={width} />
          )}
        </Box>
      </InputContext.Provider>
    </CaptureContext.Provider>
  );
}
