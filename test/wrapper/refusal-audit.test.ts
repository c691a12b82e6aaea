import t from "tap";
import type { AuditInput } from "../../server/audit-log.js";
import { RefusalAudit } from "../../wrapper/refusal-audit.js";

t.test("refusals: the first N of each window one by one, the rest as one summary line", async (t) => {
  let now = 1_000_000;
  const lines: AuditInput[] = [];
  const r = new RefusalAudit((e) => lines.push(e), { event: "channel.refused", verdict: "deny", sandbox: "sb-x" }, 3, 60_000, () => now);
  for (let i = 0; i < 10; i++) r.refused({ pid: 100 + i, reason: "not the sandbox's" });
  t.equal(lines.length, 3, "three written");
  t.same(lines.map((l) => l.pid), [100, 101, 102]);
  now += 61_000;
  r.refused({ pid: 200, reason: "again" });
  t.equal(lines.length, 5, "a new window: the summary of the last one, then the refusal itself");
  t.match(lines[3], { event: "channel.refused", verdict: "deny", sandbox: "sb-x", suppressed: 7, pid: 109 });
  t.match(lines[4], { pid: 200, reason: "again" });
  r.flush();
  t.equal(lines.length, 5, "nothing counted, nothing to flush");
  for (let i = 0; i < 5; i++) r.refused({ pid: 300 + i });
  r.flush();
  t.match(lines.at(-1), { suppressed: 3 }, "flush (the supervisor closing) writes what was counted");
});
