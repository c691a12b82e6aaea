import { types } from "node:util";
import type { PyodideAPI } from "pyodide";

/**
 * The JavaScript objects a Python snippet can reach and change (through `js`, a JS error's
 * prototype chain, a proxy's `__proto__`, `to_js` results ...): the language's own objects
 * (Object.prototype, Array.prototype, Error, JSON, the iterator prototypes ...), Pyodide's proxy
 * classes, and the worker's objects given to Python. A property one snippet adds or replaces there
 * would be seen, or would run, in later snippets on the worker.
 *
 * Everything reachable from them (prototypes, property values, getters, setters) is recorded once,
 * with each object's own property descriptors, prototype and extensibility; `changed()` compares
 * them again, by identity, without reading a property (no getter runs). Plain functions (methods:
 * no `prototype` of their own) are frozen instead, which costs nothing per check: nothing inherits
 * from them, so freezing them cannot make an assignment elsewhere fail.
 */

type Snapshot = unknown[];

/** The language's global objects, and objects reachable only from instances (iterators, generators). */
export function intrinsics(): Record<string, unknown> {
  const names = [
    "Object", "Function", "Array", "Number", "Boolean", "String", "Symbol", "BigInt", "Math", "JSON", "Reflect", "Proxy", "Promise",
    "RegExp", "Date", "Error", "AggregateError", "EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError", "URIError",
    "ArrayBuffer", "SharedArrayBuffer", "DataView", "Atomics", "Map", "Set", "WeakMap", "WeakSet", "WeakRef", "FinalizationRegistry",
    "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "Float16Array",
    "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array", "Intl", "WebAssembly", "Iterator", "parseInt", "parseFloat",
    "isNaN", "isFinite", "encodeURI", "encodeURIComponent", "decodeURI", "decodeURIComponent", "escape", "unescape",
  ];
  const g = globalThis as Record<string, unknown>;
  return {
    ...Object.fromEntries(names.filter((n) => g[n] !== undefined).map((n) => [n, g[n]])),
    "[].values()": [].values(),
    "new Map().entries()": new Map().entries(),
    "new Set().values()": new Set().values(),
    '""[Symbol.iterator]()': ""[Symbol.iterator](),
    '/a/[Symbol.matchAll]("")': /a/[Symbol.matchAll](""),
    "a generator": (function* () {})(),
    "an async generator": (async function* () {})(),
    "an async function": async function () {},
  };
}

const isObject = (v: unknown): v is object => (typeof v === "object" && v !== null) || typeof v === "function";

function snapshot(o: object): Snapshot {
  const keys = Reflect.ownKeys(o);
  const s: Snapshot = [Object.getPrototypeOf(o), Object.isExtensible(o), keys.length];
  for (const k of keys) {
    const d = Reflect.getOwnPropertyDescriptor(o, k)!;
    s.push(k, d.value, d.get, d.set, d.writable, d.enumerable, d.configurable);
  }
  return s;
}

function same(o: object, s: Snapshot): boolean {
  if (Object.getPrototypeOf(o) !== s[0] || Object.isExtensible(o) !== s[1]) return false;
  const keys = Reflect.ownKeys(o);
  if (keys.length !== s[2]) return false;
  for (let i = 0, j = 3; i < keys.length; i++, j += 7) {
    const k = keys[i]!;
    if (k !== s[j]) return false;
    const d = Reflect.getOwnPropertyDescriptor(o, k)!;
    if (!Object.is(d.value, s[j + 1]) || d.get !== s[j + 2] || d.set !== s[j + 3] || d.writable !== s[j + 4] || d.enumerable !== s[j + 5] || d.configurable !== s[j + 6]) return false;
  }
  return true;
}

export class RealmWatch {
  private readonly watched = new Map<object, Snapshot>();
  private readonly frozen = new WeakSet<object>();
  private readonly names = new WeakMap<object, string>();

  /** Records (or freezes) every object reachable from these roots that is not recorded yet. */
  add(roots: Record<string, unknown>): void {
    const queue: [unknown, string][] = Object.entries(roots).map(([name, v]) => [v, name]);
    while (queue.length > 0) {
      const [o, name] = queue.pop()!;
      if (!isObject(o) || this.watched.has(o) || this.frozen.has(o) || types.isProxy(o)) continue;
      const s = snapshot(o);
      if (typeof o === "function" && !Object.hasOwn(o, "prototype") && o !== Function.prototype) {
        Object.freeze(o);
        this.frozen.add(o);
      } else {
        this.watched.set(o, s);
        this.names.set(o, name);
      }
      if (isObject(s[0])) queue.push([s[0], `Object.getPrototypeOf(${name})`]);
      for (let j = 3; j < s.length; j += 7) {
        const key = String(s[j]);
        for (const [v, how] of [[s[j + 1], ""], [s[j + 2], " (getter)"], [s[j + 3], " (setter)"]] as const) if (isObject(v)) queue.push([v, `${name}.${key}${how}`]);
      }
    }
  }

  /** The first recorded object that is not as recorded (its name), or null. */
  changed(): string | null {
    for (const [o, s] of this.watched) if (!same(o, s)) return this.names.get(o) ?? "an object";
    return null;
  }
}

/**
 * Records what Python can reach in this realm (plain functions frozen): the language's objects,
 * Pyodide's ffi classes and package list, and `exposed` (the objects made for Python). Pyodide's
 * proxy classes are recorded as Pyodide makes them (through Module.getPyProxyClass), before Python
 * sees a proxy of one.
 */
export function watchRealm(py: PyodideAPI, exposed: Record<string, unknown>): RealmWatch {
  const realm = new RealmWatch();
  // (pyodide._package_loader.loadedPackages: a JS object Python keeps, from the snapshot's start-up)
  const loadedPackages = (py.pyimport("pyodide._package_loader") as unknown as { loadedPackages: unknown }).loadedPackages;
  realm.add({ ...intrinsics(), ...exposed, loadedPackages, ...(py as unknown as { ffi: Record<string, unknown> }).ffi });
  const module = (py as unknown as { _module: { getPyProxyClass: (flags: number) => unknown } })._module;
  const proxyClass = module.getPyProxyClass;
  module.getPyProxyClass = (flags) => {
    const cls = proxyClass(flags);
    realm.add({ [`the PyProxy class for flags ${flags}`]: cls });
    return cls;
  };
  return realm;
}
