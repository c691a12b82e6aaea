import t from "tap";
import type { AuditEntry } from "../../protocol/methods.js";
import { auditDetail, AuditView } from "../../client/tui/views/audit.js";
import { fakeStore, InkFrame, joined, withStore } from "./ink-frame.js";

const error = 'host "example.com:443" is not in the bridge\'s network.allowedDomains (registry.npmjs.org, api.github.com); ask its operator to add it, or use a bridge that allows it';
const deny: AuditEntry = {
  ts: "2026-11-22T02:07:18.299Z",
  event: "op",
  verdict: "deny",
  op: "net.connect",
  origin: { kind: "sandbox", id: "sb-fef7178b" },
  target: "example.com:443",
  bridge: "laptop",
  error,
};
const older: AuditEntry = { ts: "2026-11-22T02:07:13.000Z", event: "sandbox.start", verdict: "info", sandbox: "sb-fef7178b" };

t.test("the audit pane shows the entry's error first, then its other fields", async (t) => {
  t.same(auditDetail(deny), [
    { text: `error: ${error}`, first: true },
    { text: "op=net.connect origin=sandbox:sb-fef7178b target=example.com:443 bridge=laptop", first: false },
  ]);
  t.same(auditDetail(older), [{ text: "sandbox=sb-fef7178b", first: false }]);

  const app = new InkFrame(withStore(fakeStore({ audit: [older, deny] }), <AuditView height={22} width={80} />), 80, 22);
  t.teardown(() => app.unmount());
  const frame = app.frame;
  const pane = frame.slice(frame.findIndex((r) => r.startsWith("-- op at")) + 1, -2);
  t.match(joined(pane), `error: ${error} op=net.connect origin=sandbox:sb-fef7178b target=example.com:443 bridge=laptop`, "the error whole, and every other field", { frame });
  t.match(frame.at(-1), /^v verdict .* enter open\s+1-4 views\s+q quit$/, "Enter is in the help, and the global keys still fit");
  t.equal(frame.length, 22);
});

t.test("Enter shows the selected entry whole on a page of its own; Esc goes back", async (t) => {
  const long: AuditEntry = { ...deny, details: Array.from({ length: 40 }, (_, i) => `step ${i}`) };
  const app = new InkFrame(withStore(fakeStore({ audit: [older, long] }), <AuditView height={22} width={80} />), 80, 22);
  t.teardown(() => app.unmount());
  const page = await app.press("\r");
  t.match(page[0], "Audit entry: op at 2026-11-22T02:07:18.299Z - rows 1-19 of ", "the title, and where the page is");
  t.match(joined(page), `"error": "${error.replace(/"/g, '\\"')}"`, "the error, whole");
  t.match(page.at(-1), /^esc\/q back\s+up\/dn scroll/);
  const end = await app.press("G");
  t.match(joined(end), /"step 39"\s*\] }/, "the end of it, scrolled to");
  const back = await app.press("\x1b");
  t.match(back.at(-1), /^v verdict/, "back on the list");
});
