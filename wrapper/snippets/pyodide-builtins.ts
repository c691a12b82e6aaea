import type { PyodideAPI } from "pyodide";
import type { PyProxy } from "pyodide/ffi";

/**
 * Built-in (statically linked) extension modules taken out of the snippet interpreter.
 *
 * `_ctypes` reads and writes the interpreter's memory: with it a snippet rewrote a JsProxy's
 * reference to reach Pyodide's internal API (its Module: FS, NODEFS), scheduled callbacks the reset
 * does not control, and changed the reset's own baseline. Pyodide links it in, so no file can be
 * removed: its name is unmade instead. CPython finds a built-in module by comparing the requested
 * name with each entry of its inittab (`_PyUnicode_EqualToASCIIString`); the entries (and the
 * runtime's copy of the table) point at one NUL-terminated string in the wasm module's static data.
 * Its first byte becomes 0xFF, which no Python str can match (only an all-ASCII str is compared),
 * so `import _ctypes`, `_imp.create_builtin(spec)` and `_imp.is_builtin` no longer find it under
 * any name, and nothing else changes.
 *
 * The patch must run after the memory snapshot is restored (the snapshot holds the static data
 * too), and before any snippet. It fails loudly, so the worker does not start, when the string is
 * not found exactly once in the static data, nothing points at it, or Python still finds the
 * module afterwards: a Pyodide upgrade that moves or renames it cannot re-enable it silently.
 */

/** The modules removed. */
export const REMOVED_BUILTINS = ["_ctypes"] as const;

/** What a removed name's first byte becomes: no ASCII str compares equal to it. */
const UNMATCHABLE = 0xff;

interface EmscriptenModule {
  HEAPU8: Uint8Array;
  ___heap_base: number | { value: number };
}

export function removeBuiltinModules(py: PyodideAPI): void {
  const module = (py as unknown as { _module: EmscriptenModule })._module;
  const heapBase = Number(typeof module.___heap_base === "object" ? module.___heap_base.value : module.___heap_base);
  if (!Number.isInteger(heapBase) || heapBase <= 0) throw new Error("removing _ctypes: the wasm module does not say where its static data ends (___heap_base)");
  const heap = module.HEAPU8;
  for (const name of REMOVED_BUILTINS) {
    const at = staticString(heap, heapBase, name);
    if (!pointedAt(heap, heapBase, at)) throw new Error(`removing ${name}: nothing in the static data (the inittab) points at its name (at ${at}); is it still a built-in module?`);
    heap[at] = UNMATCHABLE;
  }
  // (In a namespace of its own: nothing is left in __main__.)
  const globals = py.toPy({}) as PyProxy;
  try {
    const still = py.runPython(
      `import _imp, sys
from importlib.machinery import ModuleSpec
removed = ${JSON.stringify(REMOVED_BUILTINS)}
found = [n for n in removed if _imp.is_builtin(n) or n in sys.modules or _imp.create_builtin(ModuleSpec(n, None)) is not None]
# The tuple Python made at start-up from the inittab, for whoever reads it.
sys.builtin_module_names = tuple(n for n in sys.builtin_module_names if n not in removed)
",".join(found)`,
      { globals },
    ) as string;
    if (still) throw new Error(`removing built-in modules: Python still finds ${still}`);
  } finally {
    globals.destroy();
  }
}

/** The one address below `end` holding `name` as a whole NUL-terminated string; throws otherwise. */
function staticString(heap: Uint8Array, end: number, name: string): number {
  const data = Buffer.from(heap.buffer, heap.byteOffset, end);
  const needle = Buffer.from(`${name}\0`, "latin1");
  const hits: number[] = [];
  for (let i = data.indexOf(needle); i >= 0; i = data.indexOf(needle, i + 1)) if (i === 0 || data[i - 1] === 0) hits.push(i);
  if (hits.length !== 1) throw new Error(`removing ${name}: its name is in the wasm module's static data ${hits.length} times, not once (${hits.slice(0, 5).join(", ")})`);
  return hits[0]!;
}

/** Whether some aligned 32-bit word of the static data holds `address` (the inittab entry's name). */
function pointedAt(heap: Uint8Array, end: number, address: number): boolean {
  const words = new Uint32Array(heap.buffer, heap.byteOffset, end >>> 2);
  return words.indexOf(address) >= 0;
}
