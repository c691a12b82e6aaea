import t from "tap";
import { mcpw } from "../helpers/cli.js";

t.test("mcpw tui and mcpw sandbox exec are listed and explain themselves", async (t) => {
  const top = await mcpw(["--help"]);
  t.match(top.stdout, /\n  tui +terminal UI for sandboxes, bridges, tokens and the audit log/);
  t.match(top.stdout, /exec a shell in one/);
  const tui = await mcpw(["tui", "--help"]);
  t.equal(tui.code, 0);
  t.match(tui.stdout, /^mcpw tui — /);
  t.match(tui.stdout, /--server <url>/);
  const exec = await mcpw(["sandbox", "exec", "--help"]);
  t.equal(exec.code, 0);
  t.match(exec.stdout, /^mcpw sandbox exec — /);
  t.match(exec.stdout, /usage: mcpw sandbox exec <sandbox-id> \[-- <command\.\.\.>\]/);
});

t.test("without a terminal, mcpw tui says it needs one; sandbox exec needs an id", async (t) => {
  const tui = await mcpw(["tui"]);
  t.equal(tui.code, 2);
  t.match(tui.stderr, /mcpw tui needs a terminal on stdin and stdout/);
  const exec = await mcpw(["sandbox", "exec"]);
  t.equal(exec.code, 2);
  t.match(exec.stderr, /needs a sandbox id/);
});
