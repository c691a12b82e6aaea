import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import t from "tap";
import { binTree, exposure, npxSearchDirs, packageTreeOf, perUserTree, resolveCommand, type ResolveOptions } from "../../wrapper/command-resolution.js";
import { WORKSPACES_MARK } from "../../wrapper/workspace-mark.js";
import { tempDir } from "../helpers/server.js";

/**
 * What `mcpw run` exposes, read-only, around the program it runs (the escape suite's
 * escape-exposure.test.ts attacks the same rules from inside a sandbox).
 */

function tree(): string {
  const d = tempDir("mcpw-resolve-test-", "/var/tmp");
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const opts = (cwd: string, extra: Partial<ResolveOptions> = {}): ResolveOptions => ({ cwd, env: { ...process.env }, ...extra });

t.test("a lone script (no package marker above it) is exposed as that one file", async (t) => {
  const d = tree();
  writeFileSync(join(d, "srv.js"), "");
  writeFileSync(join(d, "other-secret"), "");
  t.equal(packageTreeOf(join(d, "srv.js"), ["package.json"]), null);
  const r = resolveCommand(["node", join(d, "srv.js")], opts(d));
  t.ok(r.readonlyPaths.includes(join(d, "srv.js")), "the script itself");
  t.notOk(r.readonlyPaths.includes(d), "not its folder");
  const py = resolveCommand(["python3", join(d, "srv.js")], opts(d));
  t.notOk(py.readonlyPaths.includes(d), "python: not its folder either");
});

t.test("a tree that is or holds a shared directory (the temp dir, /run, /dev/shm...) is never exposed", async (t) => {
  const d = tree();
  // This process's temp dir, with a package.json in it: the script's package would be all of it.
  writeFileSync(join(d, "package.json"), "{}");
  writeFileSync(join(d, "x.js"), "");
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = d;
  t.teardown(() => (saved === undefined ? delete process.env.TMPDIR : (process.env.TMPDIR = saved)));
  t.same(exposure(d, join(d, "x.js"), opts(d)), { path: join(d, "x.js"), hide: [] }, "the temp dir itself");
  t.same(exposure("/", "/x.js", opts(d)).path, "/x.js", "/");
  t.same(exposure("/var", "/var/x.js", opts(d)).path, "/var/x.js", "a tree holding /var/tmp");
});

t.test("a world-writable or sticky tree is never exposed; such folders inside a package are hidden", async (t) => {
  const d = tree();
  writeFileSync(join(d, "package.json"), "{}");
  writeFileSync(join(d, "index.js"), "");
  chmodSync(d, 0o1777);
  t.same(exposure(d, join(d, "index.js"), opts(d)).path, join(d, "index.js"), "sticky tree: the file alone");
  chmodSync(d, 0o755);
  for (const [name, mode] of [["shared", 0o1777], ["drop", 0o777], ["plain", 0o755]] as const) {
    mkdirSync(join(d, name));
    chmodSync(join(d, name), mode);
  }
  mkdirSync(join(d, "node_modules", "pkg", "junk"), { recursive: true });
  chmodSync(join(d, "node_modules", "pkg", "junk"), 0o777);
  const e = exposure(d, join(d, "index.js"), opts("/"));
  t.equal(e.path, d);
  t.same(e.hide, [join(d, "drop"), join(d, "shared")], "world-writable and sticky folders hidden; node_modules is not walked");
  // A script inside node_modules: the node_modules folder is its tree, and it is not walked.
  t.same(exposure(join(d, "node_modules"), join(d, "node_modules", "pkg", "x.js"), opts("/")), { path: join(d, "node_modules"), hide: [] });
});

t.test("mcpw's workspaces and run dirs inside an exposed package are hidden", async (t) => {
  const d = tree();
  writeFileSync(join(d, "package.json"), "{}");
  mkdirSync(join(d, "my-server"));
  writeFileSync(join(d, "my-server", "index.js"), "");
  mkdirSync(join(d, "mount", "sb-other"), { recursive: true });
  mkdirSync(join(d, "state", "workspaces"), { recursive: true });
  mkdirSync(join(d, "cache", "mcpw-run-abc123"), { recursive: true });
  // node ./my-server/index.js, run from the project: the project is the package.
  const r = resolveCommand(["node", "./my-server/index.js"], opts(d, { workspaceRoots: [join(d, "state", "workspaces")] }));
  t.ok(r.readonlyPaths.includes(d), "the project is exposed, so ../lib.js and node_modules resolve");
  t.same(r.hiddenPaths.sort(), [join(d, "cache", "mcpw-run-abc123"), join(d, "mount"), join(d, "state", "workspaces")]);
});

t.test("a tree holding the home directory or a protected path is exposed as the file alone", async (t) => {
  const d = tree();
  mkdirSync(join(d, "home", "bin"), { recursive: true });
  writeFileSync(join(d, "package.json"), "{}");
  writeFileSync(join(d, "home", "x.js"), "");
  t.equal(exposure(d, join(d, "home", "x.js"), opts(d, { env: { HOME: join(d, "home") } })).path, join(d, "home", "x.js"), "HOME");
  t.equal(exposure(d, join(d, "home", "x.js"), opts(d, { protect: [join(d, "home")] })).path, join(d, "home", "x.js"), "protect");
  // A program in ~/bin: its install tree would be the home directory.
  copyFileSync("/bin/true", join(d, "home", "bin", "tool"));
  chmodSync(join(d, "home", "bin", "tool"), 0o755);
  const r = resolveCommand([join(d, "home", "bin", "tool")], opts(d, { env: { ...process.env, HOME: join(d, "home") } }));
  t.same(r.readonlyPaths, [join(d, "home", "bin", "tool")]);
});

t.test("an executable outside a bin folder is exposed alone; one in <prefix>/bin brings its prefix", async (t) => {
  t.equal(binTree("/opt/node-20/bin/node"), "/opt/node-20");
  t.equal(binTree("/home/u/Downloads/tool"), null);
  const d = tree();
  copyFileSync("/bin/true", join(d, "tool"));
  chmodSync(join(d, "tool"), 0o755);
  writeFileSync(join(d, "private"), "");
  t.same(resolveCommand([join(d, "tool")], opts(d)).readonlyPaths, [join(d, "tool")]);
});

t.test("a folder given as the program is a package to check, or refused; never bound whole unchecked", async (t) => {
  // node . / python3 . in a project: the project is the package (walked, ./mount hidden).
  const d = tree();
  writeFileSync(join(d, "package.json"), '{"main": "index.js"}');
  writeFileSync(join(d, "index.js"), "");
  writeFileSync(join(d, "__main__.py"), "");
  mkdirSync(join(d, "mount", "sb-victim"), { recursive: true });
  mkdirSync(join(d, "shared"));
  chmodSync(join(d, "shared"), 0o1777);
  t.equal(packageTreeOf(d, ["package.json"]), d, "searched from the folder itself");
  for (const runtime of ["node", "python3"]) {
    const r = resolveCommand([runtime, "."], opts(d));
    t.ok(r.readonlyPaths.includes(d), `${runtime} .: the project`);
    t.ok(r.hiddenPaths.includes(join(d, "mount")), `${runtime} .: another sandbox's workspace is hidden`);
    t.ok(r.hiddenPaths.includes(join(d, "shared")), `${runtime} .: a shared folder is hidden`);
  }
  // A folder with no package marker at or above it: refused, with what to do instead.
  const bare = tree();
  writeFileSync(join(bare, "__main__.py"), "");
  writeFileSync(join(bare, "id_ed25519"), "");
  t.throws(() => resolveCommand(["python3", bare], opts(bare)), { code: "bad_params", message: /is a folder.*run its entry file instead/ });
  t.throws(() => resolveCommand(["node", "/"], opts(bare)), { code: "bad_params", message: /\/ is a folder/ });
  // A folder whose package would be a shared dir (a package.json planted in the temp dir).
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = d;
  t.teardown(() => (saved === undefined ? delete process.env.TMPDIR : (process.env.TMPDIR = saved)));
  t.throws(() => exposure(d, d, opts(d)), { code: "bad_params", message: /folder every user shares/ });
});

t.test("an npx bin must be a file inside its package (not '.', not '../../..')", async (t) => {
  for (const bin of [".", "../../../../..", "../other/x.js"]) {
    const d = tree();
    mkdirSync(join(d, "node_modules", "evil"), { recursive: true });
    mkdirSync(join(d, "node_modules", "other"), { recursive: true });
    writeFileSync(join(d, "node_modules", "other", "x.js"), "");
    writeFileSync(join(d, "node_modules", "evil", "package.json"), JSON.stringify({ name: "evil", bin }));
    t.throws(() => resolveCommand(["npx", "evil"], opts(d)), { code: "bad_params", message: /bin ".*" is not a file inside the package/ }, `bin ${bin}`);
  }
});

t.test("a folder carrying mcpw's workspaces mark is hidden wherever it is in an exposed tree", async (t) => {
  // proj/mount holds the workspaces of sandboxes started from proj; proj/sub/mount of those started
  // from proj/sub. A sandbox started from either folder sees the whole project, and neither.
  const d = tree();
  writeFileSync(join(d, "package.json"), "{}");
  writeFileSync(join(d, "index.js"), "");
  for (const holder of [join(d, "mount"), join(d, "sub", "mount"), join(d, "deep", "er", "any-name")]) {
    mkdirSync(join(holder, "sb-victim"), { recursive: true });
    writeFileSync(join(holder, WORKSPACES_MARK), "");
  }
  mkdirSync(join(d, "unmarked", "sb-x"), { recursive: true });
  const fromSub = resolveCommand(["node", "../index.js"], opts(join(d, "sub")));
  t.ok(fromSub.readonlyPaths.includes(d));
  t.same(fromSub.hiddenPaths.sort(), [join(d, "deep", "er", "any-name"), join(d, "mount"), join(d, "sub", "mount")], "from proj/sub: proj/mount hidden too");
  const fromTop = resolveCommand(["node", "index.js"], opts(d));
  t.same(fromTop.hiddenPaths.sort(), [join(d, "deep", "er", "any-name"), join(d, "mount"), join(d, "sub", "mount")], "from proj: proj/sub/mount hidden too");
  // A package that is itself a holder of workspaces is not exposed as a tree.
  writeFileSync(join(d, "mount", "package.json"), "{}");
  writeFileSync(join(d, "mount", "x.js"), "");
  t.same(exposure(join(d, "mount"), join(d, "mount", "x.js"), opts("/")), { path: join(d, "mount", "x.js"), hide: [] });
});

t.test("a per-user prefix (~/.local, ~/.cargo, ~/go) is never exposed whole: the program alone, or what it needs of it", async (t) => {
  const d = tree();
  const home = join(d, "home");
  const env = { ...process.env, HOME: home };
  const tool = (dir: string): string => {
    mkdirSync(dir, { recursive: true });
    copyFileSync("/bin/true", join(dir, "tool"));
    chmodSync(join(dir, "tool"), 0o755);
    return join(dir, "tool");
  };
  for (const prefix of [".local", ".cargo", "go", ".deno", ".npm-global"]) {
    const exe = tool(join(home, prefix, "bin"));
    t.equal(binTree(exe, env), null, `${prefix}: no install tree`);
    t.same(resolveCommand([exe], opts(d, { env })).readonlyPaths, [exe], `${prefix}/bin/tool: the file alone, not ~/${prefix}`);
  }
  t.equal(binTree("/home/someone/.local/bin/tool"), null, "any account's home under /home");
  t.equal(perUserTree(join(home, ".local"), env), true);
  // Not per-user prefixes: a project in the home directory, a virtualenv, a prefix deeper down
  // (pipx's venvs, pyenv's versions), a prefix outside any home.
  mkdirSync(join(home, "proj"), { recursive: true });
  writeFileSync(join(home, "proj", "package.json"), "{}");
  t.equal(binTree(tool(join(home, "proj", "bin")), env), join(home, "proj"), "a project: its tree");
  mkdirSync(join(home, ".venv"), { recursive: true });
  writeFileSync(join(home, ".venv", "pyvenv.cfg"), "home = /usr/bin\n");
  t.equal(binTree(tool(join(home, ".venv", "bin")), env), join(home, ".venv"), "a virtualenv: its tree");
  const pipx = join(home, ".local", "share", "pipx", "venvs", "srv");
  t.equal(binTree(tool(join(pipx, "bin")), env), pipx, "one program's prefix inside ~/.local: that prefix");
  t.equal(binTree("/opt/node-20/bin/node", env), "/opt/node-20");
});

t.test("a Python in a per-user prefix brings its own library, not the prefix; so does a script it runs", { skip: !existsSync("/usr/bin/python3") && "needs /usr/bin/python3" }, async (t) => {
  const d = tree();
  const home = join(d, "home");
  const local = join(home, ".local");
  const env = { ...process.env, HOME: home };
  const ask = spawnSync("/usr/bin/python3", ["-c", "import sys, sysconfig; print(sys.executable); print(sysconfig.get_paths()['stdlib'])"], { encoding: "utf8" });
  const [exe, stdlib] = ask.stdout.trim().split("\n");
  const ver = basename(stdlib!);
  mkdirSync(join(local, "bin"), { recursive: true });
  mkdirSync(join(local, "share", "keyrings"), { recursive: true });
  writeFileSync(join(local, "share", "keyrings", "login.keyring"), "secret");
  const python = join(local, "bin", ver);
  copyFileSync(realpathSync(exe!), python);
  chmodSync(python, 0o755);
  cpSync(stdlib!, join(local, "lib", ver), { recursive: true, filter: (src) => !/\/(test|idlelib|tkinter|__pycache__)$/.test(src) });
  const prefix = spawnSync(python, ["-c", "import sys; print(sys.prefix)"], { encoding: "utf8" }).stdout.trim();
  if (prefix !== local) {
    t.plan(0, `this machine's Python does not run from a copy (prefix ${prefix})`);
    return;
  }
  const r = resolveCommand([python, "-c", "1"], opts(d, { env }));
  t.notOk(r.readonlyPaths.includes(local), "not ~/.local");
  t.same(r.readonlyPaths.sort(), [join(local, "lib", ver), python].sort(), "its library and itself");
  // A tool pip installed there: `#!~/.local/bin/python3.X`, read (never run) to find the interpreter.
  const script = join(local, "bin", "mcp-tool");
  writeFileSync(script, `#!${python}\nimport json\n`, { mode: 0o755 });
  const s = resolveCommand([script], opts(d, { env }));
  t.same(s.readonlyPaths.sort(), [join(local, "lib", ver), python, script].sort(), "the script, its interpreter and that interpreter's library");
});

t.test("npx takes a package from node_modules up to the project root only, never from a parent, ~ or /", async (t) => {
  const d = tree();
  const pkg = (dir: string, name: string) => {
    mkdirSync(join(dir, "node_modules", name), { recursive: true });
    writeFileSync(join(dir, "node_modules", name, "package.json"), JSON.stringify({ name, bin: "cli.js" }));
    writeFileSync(join(dir, "node_modules", name, "cli.js"), "");
  };
  const home = join(d, "home");
  // Offline, with an empty cache: what is not found locally fails at once, nothing is fetched.
  const env = { ...process.env, HOME: home, npm_config_cache: join(d, "npm-cache"), npm_config_offline: "true" };
  const npx = (cwd: string, name: string) => resolveCommand(["npx", name], opts(cwd, { env }));
  // Planted where anyone (or another project) could have put it: a parent folder, the home directory.
  pkg(d, "planted");
  pkg(home, "planted");
  mkdirSync(join(d, "a", "b"), { recursive: true });
  mkdirSync(join(home, "work"), { recursive: true });
  mkdirSync(join(d, "proj", "sub"), { recursive: true });
  writeFileSync(join(d, "proj", "package.json"), "{}");
  pkg(join(d, "proj"), "own");
  t.same(npxSearchDirs(join(d, "a", "b"), env), [join(d, "a", "b")], "no project: the cwd alone");
  t.same(npxSearchDirs(join(d, "proj", "sub"), env), [join(d, "proj", "sub"), join(d, "proj")], "up to the project root");
  t.same(npxSearchDirs(home, env), [], "never the home directory");
  t.same(npxSearchDirs(join(home, "work"), env), [join(home, "work")]);
  // (The host's npx, asked to install it, may itself take the planted folder for the project's;
  // mcpw still does not find the package in any folder it searches.)
  for (const cwd of [join(d, "a", "b"), join(d, "proj", "sub"), join(home, "work")]) {
    t.throws(() => npx(cwd, "planted"), { code: "not_found", message: /planted/ }, `from ${cwd}: not ${join(d, "node_modules", "planted")} nor ~/node_modules`);
  }
  const own = npx(join(d, "proj", "sub"), "own");
  t.equal(own.argv[1], join(d, "proj", "node_modules", "own", "cli.js"), "the project's own package is found from a subfolder");
});
