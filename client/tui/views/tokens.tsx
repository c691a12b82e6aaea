import { useState } from "react";
import { Box, Text, useStdout } from "ink";
import type { Result, TokenInfo } from "../../../protocol/methods.js";
import { describeError, parseDuration } from "../../command.js";
import { FormPage } from "../form.js";
import { ago, fit, until, wrapWords } from "../format.js";
import { CONFIRM_KEYS, type HelpKeys } from "../help-bar.js";
import { useCapture, useKeys, useNow, useSelection, useStore, useTuiState } from "../hooks.js";
import { Table, type Column } from "../table.js";
import { useFrameLines, ViewFrame } from "../view-frame.js";

type Created = Result<"token.create">;
const LIST_KEYS: HelpKeys = [
  ["n", "new token"],
  ["d", "revoke"],
];
const CREATED_KEYS: HelpKeys = [
  ["enter", "done (forget it)"],
  ["c", "copy (OSC 52)"],
];
/** The form's label for each field of token.create. */
const FIELD_LABELS: Record<string, string> = { env: "environment", name: "name", expiresInSec: "expires" };
type Mode = { kind: "list" } | { kind: "new" } | { kind: "created"; token: Created; copied: boolean } | { kind: "revoke"; token: TokenInfo };

function tokenState(t: TokenInfo, now: number): string {
  return t.revokedAt ? "revoked" : t.expiresAt && Date.parse(t.expiresAt) <= now ? "expired" : "valid";
}

function columns(now: number): Column<TokenInfo>[] {
  return [
    { title: "ID", width: 20, value: (t) => t.id },
    { title: "NAME", width: 12, value: (t) => `${t.name}${t.kind === "admin" ? "*" : ""}` },
    { title: "ENV", width: 5, value: (t) => t.env ?? "-" },
    { title: "STATE", width: 7, value: (t) => tokenState(t, now), color: (t) => ({ valid: "green", revoked: "gray", expired: "yellow" })[tokenState(t, now)] },
    { title: "CREATED", width: 7, value: (t) => ago(t.createdAt, now).replace(" ago", "") },
    { title: "EXPIRES", width: 9, value: (t) => until(t.expiresAt, now) },
    { title: "LAST USED", width: 0, grow: true, value: (t) => ago(t.lastUsedAt, now) },
  ];
}

/** OSC 52: asks the terminal (also over SSH, where supported) to put `text` on the clipboard. */
function copyToClipboard(stdout: NodeJS.WriteStream, text: string): void {
  stdout.write(`\x1b]52;c;${Buffer.from(text).toString("base64")}\x07`);
}

/**
 * The Tokens view: bridge tokens with their dates; create one (shown once, then forgotten) and
 * revoke one after a confirmation.
 */
export function TokensView({ height, width }: { height: number; width: number }) {
  const store = useStore();
  const { tokens, server } = useTuiState();
  const { stdout } = useStdout();
  useNow(5000); // ages move on
  const now = Date.now();
  const [mode, setMode] = useState<Mode>({ kind: "list" });
  useCapture(mode.kind !== "list");
  const { index, current, moveTo, select } = useSelection("tokens", tokens, (t) => t.id);
  const body = height - useFrameLines(width);
  const size = { height, width };

  useKeys(
    (input, key) => {
      if (mode.kind === "created") {
        if (input === "c") {
          copyToClipboard(stdout, mode.token.token);
          setMode({ ...mode, copied: true });
        } else if (key.return || key.escape) setMode({ kind: "list" }); // the token value is dropped here, for good
        return;
      }
      if (mode.kind === "revoke") {
        if (input === "y") {
          const t = mode.token;
          void store.act("token.revoke", { id: t.id }, (r) => `revoked ${t.id} (${t.name}); ${r.disconnected} connection(s) closed`).then(() => store.refreshTokens().catch(() => undefined));
        }
        setMode({ kind: "list" });
        return;
      }
      if (key.upArrow || input === "k") moveTo(index - 1);
      else if (key.downArrow || input === "j") moveTo(index + 1);
      else if (input === "n") setMode({ kind: "new" });
      else if ((input === "d" || input === "x") && current) {
        if (current.revokedAt) store.flash(`${current.id} is already revoked`, "error");
        else setMode({ kind: "revoke", token: current });
      }
    },
    { isActive: mode.kind !== "new" },
  );

  if (mode.kind === "new") {
    const create = async ([env, name, expires]: string[]) => {
      if (!name!.trim()) throw new Error("name: type a name for the token, such as laptop-bridge; it is how you tell tokens apart in the list");
      const expiresInSec = expires!.trim() ? parseDuration(expires!, "expires") : undefined;
      const token = await store
        .call("token.create", { env: env!.trim(), name: name!.trim(), ...(expiresInSec ? { expiresInSec } : {}) })
        .catch((e: unknown) => {
          // The server names the request's field ("params.env: ..."); the form calls it by its label.
          throw new Error(describeError(e).replace(/^params\.(env|name|expiresInSec): /, (_, f: string) => `${FIELD_LABELS[f]}: `));
        });
      setMode({ kind: "created", token, copied: false });
      select(token.id);
      void store.refreshTokens().catch(() => undefined);
    };
    return (
      <FormPage
        {...size}
        title="New bridge token"
        fields={[
          { label: "environment", initial: server?.env ?? "dev", hint: "the bridge serves this environment" },
          { label: "name", hint: "a label, e.g. laptop-bridge" },
          { label: "expires", initial: "30d", hint: "e.g. 12h, 30d; empty: never" },
        ]}
        submit={create}
        onCancel={() => setMode({ kind: "list" })}
      />
    );
  }
  if (mode.kind === "created") {
    const t = mode.token;
    return (
      <ViewFrame {...size} modal help={CREATED_KEYS}>
        <Text bold color="green" wrap="wrap">
          Created {t.id} "{t.name}" for environment {t.env}, {t.expiresAt ? `expires ${until(t.expiresAt)}` : "no expiry"}.
        </Text>
        <Text> </Text>
        <Text wrap="truncate-end">  {t.token}</Text>
        <Text> </Text>
        <Text wrap="wrap">
          This is the only time the token is shown: the server keeps only its hash. Copy it now: select it with the mouse (in tmux, copy mode), or press c to send it to your terminal's clipboard (OSC 52).
        </Text>
        <Text> </Text>
        <Text wrap="wrap">Store it in a file readable only by you (chmod 600), then start the bridge:</Text>
        {wrapWords(`mcpw bridge --env ${t.env} --token-file <file> --policy <policy.json>`, width - 2).map((row, i) => (
          <Text key={i} wrap="truncate-end">
            {`  ${row}`}
          </Text>
        ))}
        <Text> </Text>
        <Text color={mode.copied ? "green" : undefined}>{mode.copied ? "Sent to the clipboard (if your terminal allows OSC 52)." : "Press Enter once it is stored."}</Text>
      </ViewFrame>
    );
  }
  // Under the list: the question before a revoke (wrapped: it must be read), else the footnote.
  const below =
    mode.kind === "revoke"
      ? [
          ...wrapWords(`Revoke ${mode.token.id} (${mode.token.name}${mode.token.kind === "admin" ? ", the ADMIN token" : `, env ${mode.token.env}`})?`, width),
          ...wrapWords("Connections using it are closed at once. y: revoke, any other key: keep", width),
        ]
      : [fit("* the admin token, which the CLI and TUI use. Values are never listed.", width)];
  const belowHeight = Math.max(2, below.length);
  return (
    <ViewFrame {...size} modal={mode.kind === "revoke"} help={mode.kind === "revoke" ? CONFIRM_KEYS : LIST_KEYS}>
      <Table columns={columns(now)} rows={tokens} selected={index} height={body - belowHeight} width={width} empty="No tokens." />
      <Box height={belowHeight} flexDirection="column">
        {below.map((row, i) => (
          <Text key={i} color={mode.kind === "revoke" ? "yellow" : undefined} dimColor={mode.kind !== "revoke"} wrap="truncate-end">
            {row}
          </Text>
        ))}
      </Box>
    </ViewFrame>
  );
}
