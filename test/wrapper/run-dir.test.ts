import { spawn, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import t from "tap";
import { makeRunDir, removeRunDir, removeStaleParents } from "../../wrapper/run-dir.js";

/**
 * Run-dir parents are named after the mcpw process that made them (`mcpw-run-<pid>-XXXXXX`), so
 * the ones left by an mcpw killed with SIGKILL (no cleanup ran) can be told and removed when the
 * next parent is made: only a real directory of our uid whose pid no process has any more. They
 * used to pile up in /tmp (dozens of `mcpw-run-XXXXXX` from test runs).
 */

const asRoot = process.getuid?.() === 0;

/** A pid no process has: a child that has exited and been reaped. */
function deadPid(): number {
  const r = spawnSync("true");
  return r.pid;
}

/** A stale-looking parent with a run dir and files in it, as a killed mcpw leaves them. */
function parentOf(dir: string, pid: number, suffix: string): string {
  const parent = join(dir, `mcpw-run-${pid}-${suffix}`);
  mkdirSync(join(parent, "0123456789abcdef0123456789abcdef"), { recursive: true });
  writeFileSync(join(parent, "0123456789abcdef0123456789abcdef", "config.json"), "{}");
  return parent;
}

t.test("a parent whose mcpw is gone is removed; a live one, another uid's, a symlink and an old-style one are kept", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "run-dir-test-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const live = spawn("sleep", ["30"], { stdio: "ignore" });
  t.teardown(() => live.kill("SIGKILL"));

  const dead = parentOf(dir, deadPid(), "Dead01");
  const alive = parentOf(dir, live.pid!, "Live01");
  const oldStyle = join(dir, "mcpw-run-Old001");
  mkdirSync(oldStyle);
  const target = mkdtempSync(join(dir, "target-"));
  writeFileSync(join(target, "keep"), "");
  const link = join(dir, `mcpw-run-${deadPid()}-Link01`);
  symlinkSync(target, link);
  const others = asRoot ? parentOf(dir, deadPid(), "Other1") : null;
  if (others) chownSync(others, 1000, 1000);

  const removed = removeStaleParents(dir);
  t.same(removed, [dead], "only the dead mcpw's parent is removed");
  t.notOk(existsSync(dead), "with the run dirs it held");
  t.ok(existsSync(join(alive, "0123456789abcdef0123456789abcdef", "config.json")), "a parent whose mcpw is alive is kept whole");
  t.ok(existsSync(oldStyle), "a parent without a pid in its name is left alone");
  t.ok(existsSync(link) && existsSync(join(target, "keep")), "a symlink is neither removed nor followed");
  if (others) t.ok(existsSync(join(others, "0123456789abcdef0123456789abcdef", "config.json")), "another uid's parent is kept, though its pid is dead");
});

t.test("making a new parent removes the stale ones, and names it after this process", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "run-dir-test-"));
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  t.teardown(() => {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
    rmSync(dir, { recursive: true, force: true });
  });
  const dead = parentOf(dir, deadPid(), "Dead02");
  const runDir = makeRunDir({ gid: null, dirMode: 0o700, fileMode: 0o600, socketMode: 0o600 });
  t.teardown(() => removeRunDir(runDir));
  t.notOk(existsSync(dead), "the killed mcpw's parent is gone");
  t.equal(dirname(dirname(runDir)), dir);
  t.match(basename(dirname(runDir)), new RegExp(`^mcpw-run-${process.pid}-[A-Za-z0-9]{6}$`), "the new parent names its maker");
});
