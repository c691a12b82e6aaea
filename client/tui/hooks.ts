import { createContext, useContext, useEffect, useLayoutEffect, useState, useSyncExternalStore } from "react";
import { useInput, useStdout, type Key } from "ink";
import type { TuiState, TuiStore } from "./store.js";

export const StoreContext = createContext<TuiStore | null>(null);

export function useStore(): TuiStore {
  const store = useContext(StoreContext);
  if (!store) throw new Error("useStore outside <StoreContext.Provider>");
  return store;
}

/** The whole state; views re-render when it changes (the store batches bursts of events). */
export function useTuiState(): TuiState {
  const store = useStore();
  return useSyncExternalStore(store.subscribe, store.getState);
}

/**
 * The terminal's size, updated on resize. The listener is put in front of ink's own, so by the
 * time ink redraws after a resize the layout already has the new size (and, as the screen is
 * always drawn full height, ink clears it and draws it whole: no remains of the old layout).
 */
export function useTerminalSize(): { columns: number; rows: number } {
  const { stdout } = useStdout();
  const read = () => ({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
  const [size, setSize] = useState(read);
  useEffect(() => {
    const onResize = () => setSize(read());
    stdout.prependListener("resize", onResize);
    return () => void stdout.off("resize", onResize);
  }, [stdout]);
  return size;
}

/** Set by a view while a form, editor or sub-page has the keyboard: global keys (1-4, q, tab) are off. */
export const CaptureContext = createContext<(captured: boolean) => void>(() => undefined);

export function useCapture(captured: boolean): void {
  const set = useContext(CaptureContext);
  useLayoutEffect(() => {
    set(captured);
    return () => set(false);
  }, [captured, set]);
}

/**
 * false while the screen is too small to show the view: the view stays mounted (hidden) so its
 * state survives, but no key may act on what the person cannot see. Every key handler in a view
 * goes through useKeys or useViewInput, which honour it.
 */
export const InputContext = createContext(true);

/** ink's useInput, off while the view is hidden (InputContext): for text fields and editors. */
export function useViewInput(handler: (input: string, key: Key) => void, options: { isActive?: boolean } = {}): void {
  const enabled = useContext(InputContext);
  useInput(handler, { isActive: enabled && options.isActive !== false });
}

/** The current time, ticking every `ms` (for ages and countdowns); 0 stops the ticking. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (ms <= 0) return;
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** A selection index kept inside 0..length-1 as the list changes. */
export function clampIndex(i: number, length: number): number {
  return Math.max(0, Math.min(i, length - 1));
}

/**
 * Like useState, but the value is kept in the store under `key`, so a view finds it again after
 * another view was shown (views are unmounted when they are not shown).
 */
export function useViewState<T>(key: string, initial: T): [T, (v: T) => void] {
  const store = useStore();
  const [value, setValue] = useState<T>(() => (store.ui.has(key) ? (store.ui.get(key) as T) : initial));
  const set = (v: T) => {
    store.ui.set(key, v);
    setValue(v);
  };
  return [value, set];
}

/**
 * The selected row of a list that changes under it (events, polls): the selection stays on the
 * same item, by id, when rows come and go; if that item goes, it stays at the same position.
 * `select(id)` may name an item that is not listed yet (just created): it is selected once it is.
 */
export function useSelection<T>(key: string, rows: T[], idOf: (row: T) => string) {
  const [sel, setSel] = useViewState<{ id: string | null; index: number }>(`selection:${key}`, { id: null, index: 0 });
  const found = sel.id === null ? -1 : rows.findIndex((r) => idOf(r) === sel.id);
  const index = found >= 0 ? found : clampIndex(sel.index, rows.length);
  const moveTo = (i: number) => {
    const j = clampIndex(i, rows.length);
    const row = rows[j];
    setSel({ id: row ? idOf(row) : null, index: j });
  };
  return { index, current: rows[index] as T | undefined, moveTo, select: (id: string) => setSel({ id, index }) };
}

/**
 * ink's useInput, for keys that act (not text fields): letters and digits typed faster than the
 * terminal is read arrive as one string ("12", "jj"); they are handed over one by one, so a quick
 * "1" then "2" still ends on view 2. Escape sequences (arrows, pages) are left to ink. Off while
 * the view is hidden (InputContext), as useViewInput.
 */
export function useKeys(handler: (input: string, key: Key) => void, options: { isActive?: boolean } = {}): void {
  useViewInput((input, key) => {
    if (input.length > 1 && /^[\x20-\x7e]+$/.test(input) && !key.ctrl && !key.meta) {
      for (const ch of input) handler(ch, { ...key, shift: /[A-Z]/.test(ch) });
    } else handler(input, key);
  }, options);
}
