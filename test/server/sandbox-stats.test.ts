import t from "tap";
import { rejection } from "../helpers/server.js";
import { serverFor } from "../helpers/tui.js";
import { until } from "../helpers/until.js";

t.test("sandbox.stats: processes, memory and CPU of running sandboxes, from /proc", async (t) => {
  const ts = await serverFor(t);
  const admin = await ts.admin();
  const busy = await admin.call("sandbox.create", { name: "busy", command: ["node", "-e", "const a = Buffer.alloc(64 << 20, 1); for (;;) a.reverse()"] });
  const idle = await admin.call("sandbox.create", { name: "idle", command: ["node", "-e", "setInterval(() => {}, 1000)"], start: false });
  const first = await until("a sample with both of busy's processes", async () => {
    const { stats } = await admin.call("sandbox.stats", { id: busy.id });
    return stats[0] && stats[0].processes >= 2 && stats[0].rssBytes > 64 << 20 ? stats[0] : null;
  });
  t.equal(first.id, busy.id);
  t.ok(first.rssBytes > 64 << 20, "the 64 MiB it touched is resident");
  const later = await until("a CPU percentage", async () => {
    const { stats } = await admin.call("sandbox.stats", {});
    const s = stats.find((x) => x.id === busy.id);
    return s && s.cpuPercent !== null && s.cpuPercent > 5 ? s : null;
  });
  t.ok(later.cpuSeconds > 0, "CPU time counted");
  t.ok(later.uptimeSec !== null && later.uptimeSec >= 0);
  const all = await admin.call("sandbox.stats");
  t.notOk(all.stats.some((s) => s.id === idle.id), "a sandbox that is not running has no stats");
  const unknown = await rejection(admin.call("sandbox.stats", { id: "sb-00000000" }));
  t.equal(unknown.code, "not_found");
  await admin.call("sandbox.stop", { id: busy.id });
  t.same((await admin.call("sandbox.stats", { id: busy.id })).stats, [], "none once it stopped");
});
