import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { basename, delimiter, dirname, join, resolve, sep } from "node:path";
import { McpwError } from "../protocol/mcpw-error.js";
import { findExecutableOrNull } from "../native/find-executable.js";
import { readShebang } from "./executables.js";
import { WORKSPACES_MARK } from "./workspace-mark.js";

/**
 * Works out what a command needs from the host: the absolute executable, the runtime's install
 * tree, and the package of the program being run (a script given to node/python3, or the bin an
 * `npx` invocation names). Those trees are exposed read-only inside the sandbox at the same path,
 * without the user having to list them.
 */
export interface ResolvedCommand {
  /** argv as it runs inside the sandbox; argv[0] is an absolute host path. */
  argv: string[];
  runtime: "node" | "python" | "other";
  /** Host paths to bind read-only at the same path inside the sandbox. */
  readonlyPaths: string[];
  /**
   * Directories inside those trees that must not be seen (mcpw's workspace roots, shared
   * world-writable or sticky directories): covered by an empty read-only tmpfs.
   */
  hiddenPaths: string[];
}

export interface ResolveOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /**
   * Paths that must never be exposed by the automatic rule (the home directory, the state dir): a
   * program whose package tree would contain one is exposed as its single file instead.
   */
  protect?: string[];
  /**
   * Where mcpw keeps sandbox workspaces (besides `<cwd>/mount`, always included): hidden when an
   * exposed tree contains one, so a sandbox never sees another's workspace.
   */
  workspaceRoots?: string[];
}

export function findExecutable(name: string, opts: ResolveOptions): string {
  const found = name.includes("/")
    ? findExecutableOrNull(basename(name), [dirname(resolve(opts.cwd, name))])
    : findExecutableOrNull(name, (opts.env.PATH ?? "/usr/local/bin:/usr/bin:/bin").split(delimiter).filter(Boolean));
  if (!found) throw new McpwError("not_found", `command not found: ${name}${name.includes("/") ? "" : " (searched PATH)"}`, { field: "command" });
  return found;
}

const NODE_NAME = /^(node|nodejs)(\d+)?$/;
const PYTHON_NAME = /^python(\d+(\.\d+)?)?$/;

export function resolveCommand(command: string[], opts: ResolveOptions): ResolvedCommand {
  const [name, ...args] = command;
  if (!name) throw new McpwError("bad_params", "command is empty", { field: "command" });
  const found = findExecutable(name, opts);
  const base = basename(found);
  if (base === "npx") return resolveNpx(args, opts);
  if (PYTHON_NAME.test(base)) return resolvePython(found, args, opts);
  const real = realpathSync(found);
  if (NODE_NAME.test(basename(real))) return resolveNode(real, args, opts);
  const trees = [exposure(binTree(real, opts.env), real, opts), ...perUserInterpreter(real, opts)];
  return { argv: [real, ...args], runtime: "other", readonlyPaths: [...new Set(trees.map((x) => x.path))], hiddenPaths: [...new Set(trees.flatMap((x) => x.hide))] };
}

/** /usr/bin/node → /usr; /opt/node-20/bin/node → /opt/node-20. */
export function installTree(executable: string): string {
  const dir = dirname(executable);
  return basename(dir) === "bin" ? dirname(dir) : dir;
}

/**
 * The install tree of an executable in a `bin` folder (/opt/node-20/bin/node → /opt/node-20), or
 * null, and the executable is exposed as its single file: for one that is not in a `bin` folder (a
 * binary in ~/Downloads or /tmp), and for one whose tree is a per-user prefix (~/.local/bin/tool:
 * ~/.local holds every application's data, ~/.local/share/keyrings among them).
 */
export function binTree(executable: string, env: NodeJS.ProcessEnv = process.env): string | null {
  if (basename(dirname(executable)) !== "bin") return null;
  const tree = installTree(executable);
  return perUserTree(tree, env) ? null : tree;
}

/** Files that make a folder one program's own environment, not a per-user prefix. */
const DEDICATED_MARKERS = ["pyvenv.cfg"];

/**
 * Home directories: the user's (HOME, os.homedir()) and every account's in /etc/passwd; any
 * folder directly in /home counts too (accounts from LDAP and the like are not in /etc/passwd).
 */
function homeDirs(env: NodeJS.ProcessEnv): Set<string> {
  const homes = [homedir(), env.HOME];
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) homes.push(line.split(":")[5]);
  } catch {
    // no /etc/passwd: the user's own home still counts
  }
  return new Set(homes.filter((h): h is string => !!h && h.startsWith("/") && h !== "/").map(realOrSelf));
}

/**
 * Whether `tree` is a per-user prefix: a folder directly in a home directory (~/.local, ~/.cargo,
 * ~/go, ~/.deno, ~/.bun, ~/.npm-global, …) that is not a project (no package marker) or a
 * virtualenv. Such a tree holds many programs and their data, not the one program being run, so it
 * is never exposed whole: `~/.local/bin/tool` used to bring all of ~/.local (keyrings, other
 * applications' data), `~/.cargo/bin/tool` all of ~/.cargo (credentials.toml).
 */
export function perUserTree(tree: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const parent = dirname(realOrSelf(tree));
  if (dirname(parent) !== "/home" && !homeDirs(env).has(parent)) return false;
  return ![...PACKAGE_MARKERS, ...DEDICATED_MARKERS].some((m) => existsSync(join(tree, m)));
}

/**
 * What a Python installed in a per-user prefix needs of it: its standard library and site-packages
 * (`<prefix>/lib/python3*`, `lib64/python3*`) and its shared library (`libpython3*.so*`), each
 * checked like any exposed tree, not the rest of the prefix. Found by name, without running
 * anything.
 */
function perUserPython(prefix: string, exe: string, opts: ResolveOptions): Exposure[] {
  const out: Exposure[] = [];
  for (const lib of ["lib", "lib64"].map((l) => join(prefix, l))) {
    let names: string[] = [];
    try {
      names = readdirSync(lib);
    } catch {
      // no such folder
    }
    for (const n of names) {
      const p = join(lib, n);
      if (/^python3/.test(n) && isDirectory(p)) out.push(exposure(realOrSelf(p), exe, opts));
      else if (/^libpython3.*\.so/.test(n)) out.push(exposure(null, realOrSelf(p), opts));
    }
  }
  return out;
}

/**
 * A script exposed alone because its tree is a per-user prefix, run by an interpreter in that same
 * prefix (`~/.local/bin/tool` starting `#!/home/u/.local/bin/python3.11`): the interpreter, and for
 * a Python what perUserPython finds. The `#!` line is read, never run on the host. Nothing for any
 * other program: an interpreter elsewhere is the runtime's (/usr) or not exposed automatically.
 */
function perUserInterpreter(program: string, opts: ResolveOptions): Exposure[] {
  if (basename(dirname(program)) !== "bin") return [];
  const prefix = installTree(program);
  if (!perUserTree(prefix, opts.env)) return [];
  const interp = readShebang(program)[0];
  if (!interp?.startsWith("/") || !within(resolve(interp), prefix) || !existsSync(interp)) return [];
  const real = realpathSync(interp);
  if (!within(real, prefix)) return [];
  const own = exposure(null, real, opts);
  return PYTHON_NAME.test(basename(real)) ? [own, ...perUserPython(prefix, real, opts)] : [own];
}

const NODE_OPTS_WITH_VALUE = new Set(["-r", "--require", "--import", "--loader", "--experimental-loader", "-C", "--conditions", "--env-file", "--input-type", "--stack-size", "--max-old-space-size", "--title"]);

/** The script a node/python argv runs, if any (first argument that is not an option or its value). */
function scriptArgument(args: string[], withValue: Set<string>, stopOn: Set<string>): number {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (stopOn.has(a)) return -1;
    if (a === "--") return i + 1 < args.length ? i + 1 : -1;
    if (a.startsWith("-")) {
      if (withValue.has(a)) i++;
      continue;
    }
    return i;
  }
  return -1;
}

/**
 * The interpreter's args with the script (if any) made a real absolute path, and the script's
 * package tree (found by `markers`) to expose read-only.
 */
function withScript(args: string[], i: number, markers: string[], opts: ResolveOptions): { args: string[]; tree: Exposure | null } {
  if (i < 0) return { args, tree: null };
  const script = resolve(opts.cwd, args[i]!);
  if (!existsSync(script)) throw new McpwError("not_found", `script not found: ${script}`, { field: "command" });
  const real = realpathSync(script);
  const out = [...args];
  out[i] = real;
  return { args: out, tree: exposure(packageTreeOf(real, markers), real, opts) };
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function resolveNode(node: string, args: string[], opts: ResolveOptions): ResolvedCommand {
  const i = scriptArgument(args, NODE_OPTS_WITH_VALUE, new Set(["-e", "--eval", "-p", "--print", "-i"]));
  const s = withScript(args, i, PACKAGE_MARKERS, opts);
  const runtime = exposure(binTree(node, opts.env), node, opts);
  return {
    argv: [node, ...s.args],
    runtime: "node",
    readonlyPaths: [runtime.path, ...(s.tree ? [s.tree.path] : [])],
    hiddenPaths: [...runtime.hide, ...(s.tree?.hide ?? [])],
  };
}

/**
 * Files that make a folder a project: the tree mcpw exposes with a program found in it. Either
 * language's (a Python server in a folder of a Node project is part of that project).
 */
export const PACKAGE_MARKERS = ["package.json", "pyproject.toml", "setup.py", "setup.cfg", "requirements.txt"];

/**
 * The package a program file belongs to: inside a node_modules folder, that whole folder (so its
 * dependencies resolve); otherwise the nearest ancestor holding one of `markers`. Null when there
 * is none: a lone script (in /tmp, in ~/Downloads) is exposed as that one file, never its folder.
 * For a folder given as the program, the search starts at the folder itself.
 */
export function packageTreeOf(file: string, markers: string[]): string | null {
  const parts = file.split(sep);
  const nm = parts.lastIndexOf("node_modules");
  if (nm > 0) return parts.slice(0, nm + 1).join(sep);
  // A folder given as the program (`node .`, `python3 dir` running its __main__.py) is searched
  // from itself: it is the package when it holds a marker.
  for (let dir = isDirectory(file) ? file : dirname(file); ; dir = dirname(dir)) {
    if (markers.some((m) => existsSync(join(dir, m)))) return dir;
    if (dir === dirname(dir)) return null;
  }
}

/** A host path to bind read-only, and directories under it to cover with an empty tmpfs. */
export interface Exposure {
  path: string;
  hide: string[];
}

const within = (p: string, dir: string): boolean => p === dir || p.startsWith(dir.endsWith(sep) ? dir : dir + sep);

function realOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/**
 * Directories every local user (and every sandbox run dir) shares: temp dirs, /run (the user's
 * sockets: ssh-agent, D-Bus, tmux), shared memory. A tree that is or holds one is never exposed.
 */
export function sharedDirs(): string[] {
  return [...new Set([tmpdir(), "/tmp", "/var/tmp", "/run", "/var/run", "/dev/shm", "/dev/mqueue"].map(realOrSelf))];
}

/** Folders not walked for shared directories: package managers write them with the user's umask, and they are large. */
export const NOT_WALKED: ReadonlySet<string> = new Set(["node_modules", ".git", "site-packages", "dist-packages"]);
/** How many directories of a tree are checked before mcpw gives up on exposing it. */
export const WALK_BUDGET = 10_000;

/** World-writable or sticky: other users can put things there (sockets, files). */
const isShared = (mode: number): boolean => (mode & 0o1002) !== 0;

/**
 * Whether `tree` may be exposed read-only in place of `file` (its program or runtime), and what of
 * it to hide. Never exposed — `file` alone is, instead: `/`, a tree that holds the home directory
 * or a protected path (the state dir), a tree that is or holds a shared directory (sharedDirs), and
 * a tree that is itself world-writable or sticky. Inside an exposed tree, mcpw's workspace roots
 * (`<cwd>/mount`, `workspaceRoots`, and any folder carrying the mark mcpw leaves in every folder it
 * makes to hold workspaces: workspace-mark.ts), its run and staging dirs, world-writable or sticky
 * folders and folders mcpw cannot list are hidden. Trees under /usr are bound whole anyway and are not checked.
 */
export function exposure(tree: string | null, file: string, opts: ResolveOptions): Exposure {
  // The file alone. Never a folder: a folder given as the program (`node .`) was bound whole with
  // nothing checked or hidden (another sandbox's ./mount/sb-*, a shared folder, /root for an npx
  // bin of "../../.."); such a folder is exposed only as a checked package tree, or not at all.
  const single = (why: string): Exposure => {
    if (isDirectory(file)) {
      throw new McpwError(
        "bad_params",
        `${file} is a folder, and mcpw exposes a folder to the sandbox only as a package it can check (one holding package.json, pyproject.toml, setup.py, setup.cfg or requirements.txt): ${why}; run its entry file instead (node ${join(file, "index.js")}, python3 ${join(file, "__main__.py")})`,
        { field: "command" },
      );
    }
    return { path: file, hide: [] };
  };
  if (tree === null) return single("it has no package marker, nor has any folder above it");
  if (tree === file && !isDirectory(file)) return single("");
  if (within(tree, "/usr")) return { path: tree, hide: [] };
  const protect = [homedir(), opts.env.HOME, ...(opts.protect ?? [])].filter((p): p is string => !!p).map(realOrSelf);
  if (tree === "/" || protect.some((p) => within(p, tree))) return single(`its package ${tree} is / or holds the home directory or mcpw's state`);
  if (sharedDirs().some((d) => within(d, tree))) return single(`its package ${tree} is or holds a folder every user shares (${sharedDirs().join(", ")})`);
  let st;
  try {
    st = lstatSync(tree);
  } catch {
    return single(`its package ${tree} cannot be checked`);
  }
  if (!st.isDirectory() || isShared(st.mode)) return single(`its package ${tree} is world-writable or sticky`);
  // A node_modules folder (an npx-resolved package's) is package-manager output: not walked either.
  if (NOT_WALKED.has(basename(tree))) return { path: tree, hide: [] };
  const roots = new Set([join(opts.cwd, "mount"), ...(opts.workspaceRoots ?? [])].map(realOrSelf));
  const hide: string[] = [];
  const stack = [tree];
  let seen = 0;
  while (stack.length > 0) {
    const dir = stack.pop()!;
    if (++seen > WALK_BUDGET) {
      throw new McpwError(
        "bad_params",
        `the package tree ${tree} (of ${file}) has more than ${WALK_BUDGET} folders to check before mcpw exposes it read-only to the sandbox; run the program from a smaller package (a folder with its own package.json or pyproject.toml)`,
        { field: "command" },
      );
    }
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      // A folder mcpw cannot list cannot be checked: hidden (the tree itself: the file alone).
      if (dir === tree) return single(`mcpw cannot list its package ${tree}`);
      hide.push(dir);
      continue;
    }
    // A folder mcpw made to hold workspaces, whichever folder the sandbox using it was started from.
    if (entries.some((e) => e.name === WORKSPACES_MARK)) {
      if (dir === tree) return single(`its package ${tree} holds sandbox workspaces`);
      hide.push(dir);
      continue;
    }
    for (const e of entries) {
      if (!e.isDirectory() || NOT_WALKED.has(e.name)) continue;
      const path = join(dir, e.name);
      let mode: number;
      try {
        mode = lstatSync(path).mode;
      } catch {
        continue;
      }
      if (isShared(mode) || roots.has(path) || /^mcpw-(run|stage)-/.test(e.name)) hide.push(path);
      else stack.push(path);
    }
  }
  return { path: tree, hide: hide.sort() };
}

interface PythonInfo {
  executable: string;
  prefix: string;
  base_prefix: string;
}

const pythonCache = new Map<string, PythonInfo>();

function pythonInfo(python: string): PythonInfo {
  const cached = pythonCache.get(python);
  if (cached) return cached;
  let out: string;
  try {
    out = execFileSync(python, ["-c", "import sys,json;print(json.dumps({'executable':sys.executable,'prefix':sys.prefix,'base_prefix':sys.base_prefix}))"], {
      encoding: "utf8",
      timeout: 10_000,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (e) {
    throw new McpwError("not_found", `could not ask ${python} where it is installed: ${(e as Error).message.split("\n")[0]}`, { field: "command" });
  }
  const info = JSON.parse(out) as PythonInfo;
  pythonCache.set(python, info);
  return info;
}

function resolvePython(python: string, args: string[], opts: ResolveOptions): ResolvedCommand {
  // Ask the interpreter itself: this sees through pyenv shims and virtualenvs.
  const info = pythonInfo(python);
  const exe = realpathSync(info.executable);
  const i = scriptArgument(args, new Set(["-W", "-X", "--check-hash-based-pycs"]), new Set(["-c", "-m", "-"]));
  const s = withScript(args, i, PACKAGE_MARKERS, opts);
  // prefix, base_prefix and the executable's install tree are often one folder: check each once.
  // A per-user prefix (a Python built into ~/.local) gives only its Python's own folders.
  const installs = new Set([info.prefix, info.base_prefix].map(realOrSelf));
  const bin = binTree(exe, opts.env);
  if (bin !== null) installs.add(bin);
  const own = [...installs].flatMap((p) => (perUserTree(p, opts.env) ? perUserPython(p, exe, opts) : [exposure(p, exe, opts)]));
  if (!own.some((x) => within(exe, x.path))) own.push(exposure(null, exe, opts));
  const trees = [...own, ...(s.tree ? [s.tree] : [])];
  return { argv: [exe, ...s.args], runtime: "python", readonlyPaths: [...new Set(trees.map((x) => x.path))], hiddenPaths: [...new Set(trees.flatMap((x) => x.hide))] };
}

/** `npx [-y] [-p pkg] <pkg-or-bin> [args]` → `node <bin script> [args]`, resolved on the host. */
function resolveNpx(args: string[], opts: ResolveOptions): ResolvedCommand {
  const packages: string[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === "-y" || a === "--yes" || a === "-q" || a === "--quiet" || a === "--no-install" || a === "--prefer-offline") continue;
    if (a === "-p" || a === "--package") {
      packages.push(args[++i] ?? "");
      continue;
    }
    if (a.startsWith("--package=")) {
      packages.push(a.slice("--package=".length));
      continue;
    }
    if (a === "--") {
      i++;
      break;
    }
    if (a.startsWith("-")) throw new McpwError("bad_params", `npx option ${a} is not supported by mcpw run; run the package's bin with node instead`, { field: "command" });
    break;
  }
  const spec = args[i];
  if (!spec) throw new McpwError("bad_params", "npx needs a package or command name", { field: "command" });
  const rest = args.slice(i + 1);
  const pkgSpec = packages[0] ?? spec;
  const pkgName = packageNameOf(pkgSpec);
  const binName = packages.length ? spec : (pkgName.split("/").pop() ?? pkgName);
  const pkgDir = findInstalledPackage(pkgName, opts) ?? installWithNpx(pkgSpec, pkgName, opts);
  const script = binScript(pkgDir, binName);
  const node = realpathSync(process.execPath);
  return resolveNode(node, [script, ...rest], opts);
}

function packageNameOf(spec: string): string {
  const at = spec.indexOf("@", spec.startsWith("@") ? 1 : 0);
  return at > 0 ? spec.slice(0, at) : spec;
}

/**
 * The folders whose node_modules `npx <name>` may take a package from: the cwd and those above it
 * up to its project root (the first holding a package.json), never past it; with no package.json
 * up to the home directory or /, the cwd alone. Never a home directory or / itself. The search
 * used to climb to /, so `npx srv` from a project (or from /tmp/x) ran whatever package a parent
 * folder's node_modules held: ~/node_modules, /tmp/node_modules (anyone can make one), another
 * project's.
 */
export function npxSearchDirs(cwd: string, env: NodeJS.ProcessEnv): string[] {
  const homes = homeDirs(env);
  const dirs: string[] = [];
  for (let dir = realOrSelf(cwd); dir !== dirname(dir) && !homes.has(dir); dir = dirname(dir)) {
    dirs.push(dir);
    if (existsSync(join(dir, "package.json"))) return dirs;
  }
  return dirs.slice(0, 1);
}

function findInstalledPackage(name: string, opts: ResolveOptions): string | null {
  for (const dir of npxSearchDirs(opts.cwd, opts.env)) {
    const p = join(dir, "node_modules", name);
    if (existsSync(join(p, "package.json"))) return realpathSync(p);
  }
  const cache = join(opts.env.npm_config_cache ?? join(opts.env.HOME ?? homedir(), ".npm"), "_npx");
  if (!existsSync(cache)) return null;
  for (const entry of readdirSync(cache)) {
    const p = join(cache, entry, "node_modules", name);
    if (existsSync(join(p, "package.json"))) return realpathSync(p);
  }
  return null;
}

/** Lets the host's npx fetch the package into its cache, as plain `npx` would, then finds it there. */
function installWithNpx(spec: string, name: string, opts: ResolveOptions): string {
  try {
    execFileSync("npx", ["--yes", `--package=${spec}`, "--", "node", "-e", ""], { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "ignore", "pipe"], timeout: 300_000 });
  } catch (e) {
    throw new McpwError("not_found", `npx could not install ${spec}: ${(e as Error).message.split("\n")[0]}`, { field: "command" });
  }
  const found = findInstalledPackage(name, opts);
  if (!found) throw new McpwError("not_found", `package ${name} was installed by npx but could not be found in its cache`, { field: "command" });
  return found;
}

function binScript(pkgDir: string, binName: string): string {
  const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as { name?: string; bin?: string | Record<string, string> };
  let rel: string | undefined;
  if (typeof pkg.bin === "string") rel = pkg.bin;
  else if (pkg.bin) {
    const names = Object.keys(pkg.bin);
    rel = pkg.bin[binName] ?? (names.length === 1 ? pkg.bin[names[0]!] : undefined);
    if (!rel) throw new McpwError("not_found", `package ${pkg.name} has several bins (${names.join(", ")}); name one with npx -p ${pkg.name} <bin>`, { field: "command" });
  }
  if (!rel) throw new McpwError("not_found", `package ${pkg.name} has no bin to run`, { field: "command" });
  // A bin is a file of the package, as npm links it: "." or "../../.." named a folder (up to /root),
  // which would have been handed to node as the program.
  const script = resolve(pkgDir, rel);
  const real = existsSync(script) ? realpathSync(script) : script;
  if (!within(script, pkgDir) || !within(real, realOrSelf(pkgDir)) || !existsSync(real) || !statSync(real).isFile()) {
    throw new McpwError("bad_params", `package ${pkg.name}: its bin "${rel}" is not a file inside the package (${pkgDir})`, { field: "command" });
  }
  return real;
}
