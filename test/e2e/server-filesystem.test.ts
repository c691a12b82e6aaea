import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { connectMcp, SERVERS, textOf } from "../helpers/mcp-client.js";
import { sandboxWorkspace, tempDir } from "../helpers/server.js";

t.test("@modelcontextprotocol/server-filesystem under mcpw run: /mount works, host paths do not", async (t) => {
  const cwd = tempDir("mcpw-e2e-fs-");
  const ws = sandboxWorkspace("mcpw-e2e-fs-ws-");
  writeFileSync(join(ws, "hello.txt"), "hello from the workspace");
  // A host secret the server's own arguments allow ("/"), but the sandbox does not.
  const secretDir = join(homedir(), `.mcpw-e2e-secret-${randomBytes(4).toString("hex")}`);
  mkdirSync(secretDir);
  writeFileSync(join(secretDir, "key"), "SECRET-VALUE-42");
  t.teardown(() => rmSync(secretDir, { recursive: true, force: true }));

  const fs = await connectMcp(["node", SERVERS.filesystem, "/mount", "/"], { cwd, mcpwArgs: ["--mount", ws] });
  t.teardown(() => fs.close());
  const list = await fs.client.callTool({ name: "list_directory", arguments: { path: "/mount" } });
  t.match(textOf(list), /\[FILE\] hello\.txt/);
  const read = await fs.client.callTool({ name: "read_text_file", arguments: { path: "/mount/hello.txt" } });
  t.equal(textOf(read), "hello from the workspace");
  const write = await fs.client.callTool({ name: "write_file", arguments: { path: "/mount/sub-new.txt", content: "written inside" } });
  t.notOk(write.isError, textOf(write));
  t.equal(readFileSync(join(ws, "sub-new.txt"), "utf8"), "written inside", "the write landed in the host workspace");
  const mkdir = await fs.client.callTool({ name: "create_directory", arguments: { path: "/mount/made/deep" } });
  t.notOk(mkdir.isError);
  t.ok(existsSync(join(ws, "made", "deep")));

  const stolen = await fs.client.callTool({ name: "read_text_file", arguments: { path: join(secretDir, "key") } });
  t.ok(stolen.isError, "reading the host secret fails");
  t.notOk(textOf(stolen).includes("SECRET-VALUE-42"), "and does not leak it");
  t.match(textOf(stolen), /EACCES|permission denied/i, `the error says why: ${textOf(stolen)}`);
  const etc = await fs.client.callTool({ name: "read_text_file", arguments: { path: "/etc/shadow" } });
  t.ok(etc.isError, "/etc/shadow is not there either");
  const escape = await fs.client.callTool({ name: "write_file", arguments: { path: join(secretDir, "planted"), content: "x" } });
  t.ok(escape.isError, "writing outside fails");
  t.notOk(existsSync(join(secretDir, "planted")), "and nothing was written on the host");

  // The probe itself works: without mcpw the same server reads the secret.
  const direct = await connectMcp(["node", SERVERS.filesystem, "/"], { cwd, direct: true });
  t.teardown(() => direct.close());
  const leaked = await direct.client.callTool({ name: "read_text_file", arguments: { path: join(secretDir, "key") } });
  t.equal(textOf(leaked), "SECRET-VALUE-42", "unsandboxed, the server would have read it");
});
