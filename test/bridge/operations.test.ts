import { join } from "node:path";
import t from "tap";
import { capabilitiesOf } from "../../bridge/capabilities.js";
import { BridgeOperations } from "../../bridge/operations.js";
import { BridgeCapabilities } from "../../protocol/policy.js";
import { makeBridge, NO_STREAMS, ORIGIN } from "./fixtures/bridge.js";
import { b64, rejects, tempDir } from "./fixtures/harness.js";

t.test("every operation is audited exactly once, with the right verdict", async (t) => {
  const dir = tempDir(t);
  const { perform, audit, ops } = makeBridge({ filesystem: { readwrite: [dir] }, exec: { allow: ["printf"], allowEnv: ["API_KEY"] } });
  const file = join(dir, "notes.txt");
  await perform({ op: "fs.write", path: file, data: b64("TOP-SECRET-CONTENT") });
  await perform({ op: "fs.read", path: file });
  await rejects(t, perform({ op: "fs.read", path: "/etc/shadow" }), { code: "policy_denied" }, "denied");
  await rejects(t, perform({ op: "fs.read", path: join(dir, "missing") }), { code: "io_error" }, "failed");
  await perform({ op: "exec", command: "printf", args: ["--password=hunter2"], env: { API_KEY: "sk-live-123" } });
  await rejects(t, perform({ op: "net.resolve", host: "example.com" }), { code: "policy_denied" }, "no network");
  await rejects(t, ops.perform({ origin: ORIGIN, op: { op: "fs.read", path: "relative" } }, NO_STREAMS), { code: "bad_params", field: "op.path" }, "schema");
  await rejects(t, ops.perform({ origin: ORIGIN, op: { op: "fs.teleport", path: "/x" } }, NO_STREAMS), { code: "bad_params", field: "op.op" }, "unknown op");
  await rejects(t, ops.perform({ op: { op: "fs.stat", path: dir } }, NO_STREAMS), { code: "bad_params", field: "origin" }, "no origin");
  await rejects(t, ops.perform("not even an object", NO_STREAMS), { code: "bad_params" }, "junk");

  t.same(audit.map((e) => [e.op, e.verdict]), [
    ["fs.write", "allow"],
    ["fs.read", "allow"],
    ["fs.read", "deny"],
    ["fs.read", "error"],
    ["exec", "allow"],
    ["net.resolve", "deny"],
    ["fs.read", "error"],
    ["fs.teleport", "error"],
    ["fs.stat", "error"],
    [undefined, "error"],
  ], "one entry per request, in order");
  for (const e of audit) {
    t.match(e, { event: "op", ts: /^\d{4}-\d\d-\d\dT/, durationMs: Number }, "common fields");
  }
  t.match(audit[0], { origin: ORIGIN, target: file });
  t.match(audit[2], { target: "/etc/shadow", rule: "filesystem.readonly", code: "policy_denied", reason: /read of \/etc\/shadow refused/ });
  t.match(audit[3], { errno: "ENOENT", code: "io_error" });
  t.match(audit[4], { target: "printf" });
  t.match(audit[6], { code: "bad_params", reason: /op\.path/ });
  t.notOk("origin" in (audit[8] as object), "an origin that failed validation is not recorded");
  const text = JSON.stringify(audit);
  for (const secret of ["TOP-SECRET-CONTENT", b64("TOP-SECRET-CONTENT"), "hunter2", "sk-live-123"]) {
    t.notOk(text.includes(secret), `the audit never holds ${secret}`);
  }
});

t.test("results are validated against OpResults", async (t) => {
  const dir = tempDir(t);
  const audit: unknown[] = [];
  const ops = new BridgeOperations({ filesystem: { readonly: [dir] } }, (e) => audit.push(e));
  // Sabotage one handler to return a malformed result: the dispatcher must not pass it on.
  (ops as unknown as { files: { stat: () => Promise<unknown> } }).files.stat = async () => ({ type: "file" });
  await rejects(t, ops.perform({ origin: ORIGIN, op: { op: "fs.stat", path: dir } }, NO_STREAMS), { code: "internal", message: /result of fs\.stat does not match/ }, "malformed result");
  t.match(audit, [{ verdict: "error", code: "internal" }]);
});

t.test("a malformed policy is refused at construction, naming the field", async (t) => {
  t.throws(() => new BridgeOperations({ network: { allowedDomains: ["127.1"] } }, () => undefined), { code: "bad_params", field: "network.allowedDomains.0" });
  t.throws(() => new BridgeOperations({ network: { allowedCidrs: ["10.0.0.0/99"] } }, () => undefined), { code: "bad_params", field: "network.allowedCidrs.0" });
  t.throws(() => new BridgeOperations({ exec: { timeoutMs: -1 } } as never, () => undefined), { code: "bad_params", field: "exec.timeoutMs" });
  await rejects(t, makeBridge({ network: { allowedDomains: ["*"] } }).perform({ op: "net.resolve", host: "x.test" }, { allowedDomains: ["127.1"] }), { code: "bad_params", field: "restrict.network.allowedDomains.0" }, "a malformed restrict policy");
});

t.test("capabilities summarise the policy", async (t) => {
  const dir = tempDir(t);
  const policy = { filesystem: { readonly: [dir] }, network: { allowedDomains: ["*.example.com"], deniedDomains: ["bad.example.com"] }, exec: { allow: ["git"] } };
  const caps = capabilitiesOf(policy);
  t.same(caps, { fs: { readonly: [dir], readwrite: [] }, network: { allowedDomains: ["*.example.com"], deniedDomains: ["bad.example.com"] }, exec: ["git"] });
  t.ok(BridgeCapabilities.safeParse(caps).success, "matches the BridgeCapabilities schema");
  t.same(makeBridge(policy).ops.capabilities, caps);
});
