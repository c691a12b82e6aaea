/**
 * What Python may touch of the JavaScript realm it runs in (the Pyodide worker's), and what it may
 * change there. Defence in the realm only: the boundary is the sandboxed process around it
 * (pyodide-sandbox.ts); these keep a snippet from reaching Node's `process` in the first place.
 *
 * - safeGlobals: `import js` gives timers only, on an object with no prototype.
 * - closeCodeGeneration: no JavaScript from strings (the process also runs with
 *   --disallow-code-generation-from-strings; this layer gives the clearer error).
 * - freezeIntrinsics: Python reaches the realm's shared objects through any JS value's prototype
 *   chain (a timer gives Function.prototype and Object.prototype; a caught JS error gives Error).
 *   Left writable, they were the way out: a getter defined on Object.prototype caught `process`
 *   when Node read an optional property from it, and Error.prepareStackTrace sees every stack
 *   trace. Node's --frozen-intrinsics cannot be used: Pyodide writes to intrinsics while it starts
 *   (`Math.pow.sig = ...`), so they are frozen here, after Pyodide's set-up.
 */

const TIMERS = ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "queueMicrotask"] as const;

/**
 * What `import js` gives Python: timers only (the worker's own, pyodide-timers.ts, so the reset can
 * cancel what a snippet left waiting), on an object with no prototype.
 */
export function safeGlobals(timers: Record<(typeof TIMERS)[number], unknown>): object {
  const g = Object.create(null) as Record<string, unknown>;
  for (const k of TIMERS) g[k] = timers[k];
  return g;
}

/**
 * No code from strings: the constructors every function reaches through `.constructor` refuse, and
 * so does eval. (`globalThis.Function` itself stays: Python cannot reach the global object, and
 * Pyodide needs Function.prototype.apply.)
 */
export function closeCodeGeneration(): void {
  const refuse = (name: string) => {
    const f = function () {
      throw new EvalError(`${name}: code generation is disabled in the snippet sandbox`);
    };
    Object.defineProperty(f, "name", { value: name });
    return f;
  };
  for (const [name, proto] of functionPrototypes()) Object.defineProperty(proto, "constructor", { value: refuse(name), writable: false, configurable: false });
  Object.defineProperty(globalThis, "eval", { value: refuse("eval"), writable: false, configurable: false });
}

function functionPrototypes(): [string, object][] {
  return [
    ["Function", Function.prototype],
    ["AsyncFunction", Object.getPrototypeOf(async function () {})],
    ["GeneratorFunction", Object.getPrototypeOf(function* () {})],
    ["AsyncGeneratorFunction", Object.getPrototypeOf(async function* () {})],
  ];
}

/** The realm's standard constructors and namespaces (each with its prototype, found by the walk). */
const INTRINSICS = [
  "Object", "Function", "Array", "Error", "EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError", "URIError", "AggregateError",
  "Promise", "RegExp", "Date", "Map", "Set", "WeakMap", "WeakSet", "WeakRef", "FinalizationRegistry", "Symbol", "String", "Number", "Boolean", "BigInt",
  "ArrayBuffer", "SharedArrayBuffer", "DataView", "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array",
  "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array", "JSON", "Math", "Reflect", "Proxy", "Atomics", "WebAssembly",
];

/**
 * Properties that code assigns on objects derived from a prototype (`err.name = ...`,
 * `obj.toString = ...`). Frozen as data properties, such assignments would fail (the "override
 * mistake"); as accessors, they define the property on the derived object, as before.
 */
const OVERRIDABLE = new Set(["constructor", "name", "message", "toString", "toLocaleString", "valueOf"]);

/** Stays writable: Pyodide's PythonError sets it around super(); V8 reads it as a plain number. */
const STAYS_WRITABLE = new Map<unknown, string>([[Error, "stackTraceLimit"]]);

/**
 * Freezes every intrinsic and everything reachable from it (prototypes, methods, accessors), and
 * the timers `import js` gives with the prototype of what they return.
 */
export function freezeIntrinsics(): void {
  const g = globalThis as Record<string, unknown>;
  const timer = setTimeout(() => undefined, 0);
  clearTimeout(timer);
  const roots: unknown[] = [
    ...INTRINSICS.map((name) => g[name]),
    ...functionPrototypes().map(([, proto]) => proto),
    Object.getPrototypeOf(Int8Array), // %TypedArray%
    Object.getPrototypeOf([][Symbol.iterator]()),
    Object.getPrototypeOf(new Map()[Symbol.iterator]()),
    Object.getPrototypeOf(new Set()[Symbol.iterator]()),
    Object.getPrototypeOf(""[Symbol.iterator]()),
    Object.getPrototypeOf("".matchAll(/(?:)/g)),
    ...TIMERS.map((name) => g[name]),
    Object.getPrototypeOf(timer),
  ];
  const seen = new Set<unknown>([globalThis]);
  const queue = roots.filter(isObject);
  while (queue.length > 0) {
    const o = queue.pop()!;
    if (seen.has(o)) continue;
    seen.add(o);
    for (const key of Reflect.ownKeys(o)) {
      let desc = Reflect.getOwnPropertyDescriptor(o, key)!;
      if (typeof key === "string" && OVERRIDABLE.has(key) && "value" in desc && desc.writable && desc.configurable) {
        overridable(o, key, desc);
        desc = Reflect.getOwnPropertyDescriptor(o, key)!;
      }
      for (const v of [desc.value, desc.get, desc.set]) if (isObject(v)) queue.push(v);
    }
    const proto = Reflect.getPrototypeOf(o);
    if (proto) queue.push(proto);
    freeze(o);
  }
}

function isObject(v: unknown): v is object {
  return (typeof v === "object" && v !== null) || typeof v === "function";
}

function freeze(o: object): void {
  const keep = STAYS_WRITABLE.get(o);
  if (keep === undefined) return void Object.freeze(o);
  Object.preventExtensions(o);
  for (const key of Reflect.ownKeys(o)) {
    const desc = Reflect.getOwnPropertyDescriptor(o, key)!;
    Object.defineProperty(o, key, "value" in desc && key !== keep ? { writable: false, configurable: false } : { configurable: false });
  }
}

function overridable(o: object, key: string, desc: PropertyDescriptor): void {
  const value: unknown = desc.value;
  Object.defineProperty(o, key, {
    get: () => value,
    set(this: unknown, v: unknown) {
      if (this === o || !isObject(this)) throw new TypeError(`Cannot assign to read only property '${key}' of a frozen intrinsic`);
      Object.defineProperty(this, key, { value: v, writable: true, enumerable: true, configurable: true });
    },
    enumerable: desc.enumerable ?? false,
    configurable: false,
  });
}
