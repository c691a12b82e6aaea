import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import t from "tap";
import { connectMcp, SERVERS, textOf } from "../helpers/mcp-client.js";
import { tempDir } from "../helpers/server.js";

/** Tools that only run as MCP tasks are called through the SDK's task stream. */
async function viaTask(client: Client, params: { name: string; arguments: Record<string, unknown> }): Promise<{ isError?: boolean; content?: unknown }> {
  for await (const message of client.experimental.tasks.callToolStream(params)) {
    if (message.type === "result") return message.result as { isError?: boolean };
    if (message.type === "error") return { isError: true, content: [{ type: "text", text: String(message.error) }] };
  }
  return { isError: true, content: [{ type: "text", text: "task stream ended without a result" }] };
}

/** Arguments for each of server-everything's tools (the names come from tools/list). */
function argumentsFor(name: string, fetchUrl: string): Record<string, unknown> {
  switch (name) {
    case "echo":
      return { message: "through mcpw" };
    case "get-annotated-message":
      return { messageType: "success", includeImage: true };
    case "get-structured-content":
      return { location: "Chicago" };
    case "get-sum":
      return { a: 2, b: 40 };
    case "gzip-file-as-resource":
      return { name: "page.gz", data: fetchUrl, outputType: "resource" };
    case "trigger-long-running-operation":
      return { duration: 1, steps: 2 };
    case "simulate-research-query":
      return { topic: "sandboxes", ambiguous: false };
    case "get-resource-links":
      return { count: 2 };
    default:
      return {};
  }
}

t.test("@modelcontextprotocol/server-everything: every tool, resource and prompt works through mcpw run", async (t) => {
  const page = createServer((req, res) => res.end(`page served to the sandbox at ${req.url}`));
  await new Promise<void>((r) => page.listen(0, "127.0.0.1", r));
  t.teardown(() => page.close());
  const port = (page.address() as AddressInfo).port;
  const fetchUrl = `http://127.0.0.1:${port}/doc.txt`;
  process.env.MCPW_E2E_HOST_SECRET = "must-not-reach-the-sandbox";
  t.teardown(() => delete process.env.MCPW_E2E_HOST_SECRET);

  const ev = await connectMcp(["node", SERVERS.everything, "stdio"], { cwd: tempDir("mcpw-e2e-ev-"), mcpwArgs: ["--allow-net", `127.0.0.1:${port}`] });
  t.teardown(() => ev.close());

  const { tools } = await ev.client.listTools();
  t.ok(tools.length >= 10, `${tools.length} tools listed`);
  for (const tool of tools) {
    const params = { name: tool.name, arguments: argumentsFor(tool.name, fetchUrl) };
    const result = (tool as { execution?: { taskSupport?: string } }).execution?.taskSupport === "required" ? await viaTask(ev.client, params) : await ev.client.callTool(params);
    t.notOk(result.isError, `tool ${tool.name} works: ${textOf(result).slice(0, 120)}`);
    if (tool.name === "echo") t.match(textOf(result), /through mcpw/);
    if (tool.name === "get-sum") t.match(textOf(result), /42/);
    if (tool.name === "get-env") {
      t.notOk(textOf(result).includes("must-not-reach-the-sandbox"), "host environment variables stay outside");
      t.match(textOf(result), /MCPW_SANDBOX/);
    }
  }

  const { resources } = await ev.client.listResources();
  t.ok(resources.length > 0);
  for (const r of resources) {
    const read = await ev.client.readResource({ uri: r.uri });
    t.ok(read.contents.length > 0, `resource ${r.uri} reads`);
  }
  const { resourceTemplates } = await ev.client.listResourceTemplates();
  for (const tmpl of resourceTemplates) {
    const uri = tmpl.uriTemplate.replace("{resourceId}", "1");
    t.ok((await ev.client.readResource({ uri })).contents.length > 0, `template resource ${uri} reads`);
  }

  const { prompts } = await ev.client.listPrompts();
  const promptArgs: Record<string, Record<string, string>> = {
    "args-prompt": { city: "Oslo", state: "none" },
    "completable-prompt": { department: "Engineering", name: "Alice" },
    "resource-prompt": { resourceType: "Text", resourceId: "1" },
  };
  for (const p of prompts) {
    const got = await ev.client.getPrompt({ name: p.name, arguments: promptArgs[p.name] ?? {} });
    t.ok(got.messages.length > 0, `prompt ${p.name} works`);
  }
});

t.test("a fetch by the sandboxed server reaches a loopback host only when the policy allows it", async (t) => {
  const page = createServer((_req, res) => res.end("reachable"));
  await new Promise<void>((r) => page.listen(0, "127.0.0.1", r));
  t.teardown(() => page.close());
  const port = (page.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/x`;
  const call = { name: "gzip-file-as-resource", arguments: { name: "x.gz", data: url, outputType: "resource" } };

  const denied = await connectMcp(["node", SERVERS.everything, "stdio"], { cwd: tempDir("mcpw-e2e-ev-") });
  t.teardown(() => denied.close());
  const refused = await denied.client.callTool(call);
  t.ok(refused.isError, "not in the policy: refused");
  t.match(textOf(refused), /fetch failed|ECONNREFUSED|not in network\.allowedDomains/i, textOf(refused));

  const otherPort = await connectMcp(["node", SERVERS.everything, "stdio"], { cwd: tempDir("mcpw-e2e-ev-"), mcpwArgs: ["--allow-net", `127.0.0.1:${port + 1}`] });
  t.teardown(() => otherPort.close());
  t.ok((await otherPort.client.callTool(call)).isError, "allowing another port does not allow this one");

  const allowed = await connectMcp(["node", SERVERS.everything, "stdio"], { cwd: tempDir("mcpw-e2e-ev-"), mcpwArgs: ["--allow-net", `127.0.0.1:${port}`] });
  t.teardown(() => allowed.close());
  const ok = await allowed.client.callTool(call);
  t.notOk(ok.isError, `allowed: ${textOf(ok).slice(0, 200)}`);
});
