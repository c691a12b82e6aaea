import { closeSync, existsSync, openSync, readSync, realpathSync, statSync } from "node:fs";
import { basename, isAbsolute } from "node:path";
import { findExecutableOrNull } from "../native/find-executable.js";
import { SANDBOX_PATH } from "./bwrap-args.js";

/**
 * The files a sandbox may execve (landlock's executeOnly): the program itself, Node (helpers, the
 * exec-via-bridge shim), the programs policy.exec.allow names, the interpreters their `#!` lines
 * name, and the dynamic loader. Everything else under /usr stays readable but cannot be execve'd:
 * the interceptors refuse other programs politely, and a plain `execve("/bin/sh")` that goes around
 * them (ctypes, process.binding) meets EACCES from the kernel.
 *
 * This is NOT a boundary on what code runs in the sandbox. The program is arbitrary code already,
 * and it can run any readable program's code without execve'ing that file: through the dynamic
 * loader (`ld-linux-x86-64.so.2 /bin/sh`, which must stay executable for every dynamic program),
 * from a memfd (`memfd_create` + `execveat(AT_EMPTY_PATH)`, or `execve("/proc/self/fd/N")`:
 * landlock does not govern files that have no path), or by mapping it itself. What holds is that
 * whatever it runs has the same uid, namespaces, seccomp filter, landlock domain and rlimits: it
 * can do nothing the program itself could not. exec.allow decides what the interceptors start for
 * a well-behaved program; it keeps honest tools from being started by accident, not an attacker.
 */

/** Dynamic loaders ELF programs name as their interpreter (the kernel opens them for execution too). */
const LOADERS = ["/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1", "/lib64/ld-linux-aarch64.so.1"];

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** A command as execvp would find it in the sandbox's PATH, or null. */
function onPath(name: string): string | null {
  if (isAbsolute(name)) return isFile(name) ? name : null;
  if (name.includes("/")) return null;
  return findExecutableOrNull(name, SANDBOX_PATH);
}

/** A script's `#!` line, split into the interpreter and its arguments; empty when there is none. */
export function readShebang(file: string): string[] {
  const buf = Buffer.alloc(256);
  let n = 0;
  try {
    const fd = openSync(file, "r");
    try {
      n = readSync(fd, buf, 0, buf.length, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    return [];
  }
  const text = buf.subarray(0, n).toString("latin1");
  if (!text.startsWith("#!")) return [];
  return text.slice(2).split("\n")[0]!.trim().split(/\s+/).filter(Boolean);
}

/** The interpreter and, for `#!/usr/bin/env prog`, the program a script's first line names. */
function shebang(file: string): string[] {
  const [interp, ...args] = readShebang(file);
  if (!interp) return [];
  const envProg = interp.endsWith("/env") ? args.find((a) => !a.startsWith("-")) : undefined;
  return [interp, ...(envProg ? [onPath(envProg) ?? ""] : [])].filter(Boolean);
}

/** Host paths (the same inside: /usr and the runtimes are bound at their own paths) the sandbox may execute. */
export function executables(input: { target: string; node: string; allow: readonly string[] }): string[] {
  const out = new Set<string>();
  const add = (p: string | null, depth = 0): void => {
    if (!p || !isFile(p)) return;
    for (const path of new Set([p, realpathSync(p)])) {
      if (out.has(path)) continue;
      out.add(path);
      if (depth < 3) for (const next of shebang(path)) add(next, depth + 1);
    }
  };
  add(input.target);
  add(input.node);
  for (const name of input.allow) add(onPath(name));
  for (const loader of LOADERS) if (existsSync(loader)) add(loader);
  return [...out].sort();
}

/**
 * exec.allow as the interceptors match it: every entry, plus the files a bare name stands for, so
 * that a program may run the file its allowed name resolved to: `python3` found in the sandbox's
 * PATH (/usr/bin/python3, really python3.11) and, when the program itself was started by an
 * allowed name (`python3 server.py`), the interpreter that name resolved to on the host —
 * sys.executable, which under pyenv or a venv is a python3.11 the name does not match by basename.
 */
export function allowedCommands(input: { allow: readonly string[]; target: string; invokedAs: string | undefined }): string[] {
  const out = new Set(input.allow);
  const real = (p: string | null) => {
    try {
      return p ? realpathSync(p) : null;
    } catch {
      return null;
    }
  };
  for (const name of input.allow) {
    if (name.includes("/")) continue;
    const inside = real(onPath(name));
    if (inside) out.add(inside);
  }
  const invoked = input.invokedAs;
  const byName = invoked !== undefined && input.allow.some((e) => (e.startsWith("/") ? e === invoked : e === basename(invoked)));
  const target = real(input.target);
  if (byName && target) out.add(target);
  return [...out].sort();
}
