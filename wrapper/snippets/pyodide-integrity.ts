import type { PyodideAPI } from "pyodide";
import type { PyProxy } from "pyodide/ffi";

/**
 * Whether what the worker's reset relies on is still as recorded: the baseline's entries, the
 * reset module's globals and private built-ins (and its classes' dicts), and the code, defaults
 * and closures of its functions. A snippet can reach all of them (through the frames that run it,
 * for instance) and change them; it cannot change what a built-in function does. So the check is
 * made from here, by calling built-ins only (tuple, map, all, operator.is_, ...), on objects held
 * since the baseline was recorded: no Python code runs, and values are compared by identity.
 */

type Fn = (...args: unknown[]) => unknown;

export function integrityCheck(py: PyodideAPI, dicts: PyProxy, funcs: PyProxy): () => boolean {
  const builtins = py.pyimport("builtins") as unknown as Record<string, Fn>;
  const operator = py.pyimport("operator") as unknown as Record<string, Fn>;
  const chain = py.pyimport("itertools").chain as unknown as Fn & { from_iterable: Fn };
  const { tuple, all, map, len } = builtins as Record<"tuple" | "all" | "map" | "len", Fn>;
  const { is_ } = operator as Record<"is_", Fn>;
  const flatten = chain.from_iterable;
  const items = operator.methodcaller!("items") as PyProxy & Fn;
  const attributes = operator.attrgetter!("__code__", "__defaults__", "__kwdefaults__", "__closure__") as PyProxy & Fn;

  /** Every key and value of every dict, then every function's code, defaults and closure. */
  const flat = (): PyProxy => {
    const made: PyProxy[] = [];
    const keep = <T>(p: T) => (made.push(p as PyProxy), p);
    try {
      const entries = keep(flatten(keep(flatten(keep(map(items, dicts))))));
      const attrs = keep(flatten(keep(map(attributes, funcs))));
      return tuple(keep(chain(entries, attrs))) as PyProxy;
    } finally {
      for (const p of made) p.destroy();
    }
  };
  const recorded = flat();
  return () => {
    const now = flat();
    const same = keepAnd(map(is_, now, recorded) as PyProxy, (pairs) => len(now) === len(recorded) && all(pairs) === true);
    now.destroy();
    return same;
  };
}

function keepAnd<T>(p: PyProxy, f: (p: PyProxy) => T): T {
  try {
    return f(p);
  } finally {
    p.destroy();
  }
}
