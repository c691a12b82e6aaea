import { render } from "ink";
import { App } from "./app.js";
import { StoreContext } from "./hooks.js";
import { lineDiffStdout } from "./screen-writer.js";
import { TuiStore } from "./store.js";

export interface TuiOptions {
  url: string;
  tokenPath: string;
  readToken: () => string;
}

/**
 * Runs the TUI on this process's terminal until the person quits: the alternate screen (their
 * scrollback stays as it was), no cursor, and everything restored on the way out, also on SIGTERM
 * and SIGHUP (an SSH session that drops).
 */
export async function runTui(opts: TuiOptions): Promise<number> {
  const out = process.stdout;
  const store = new TuiStore(opts);
  out.write("\x1b[?1049h\x1b[H\x1b[?25l");
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    out.write("\x1b[?25h\x1b[?1049l");
  };
  process.once("exit", restore);
  const app = render(
    <StoreContext.Provider value={store}>
      <App onQuit={() => app.unmount()} />
    </StoreContext.Provider>,
    { exitOnCtrlC: false, stdout: lineDiffStdout(out) },
  );
  const quit = () => app.unmount();
  process.once("SIGTERM", quit);
  process.once("SIGHUP", quit);
  store.start();
  try {
    await app.waitUntilExit();
  } finally {
    process.off("SIGTERM", quit);
    process.off("SIGHUP", quit);
    store.stop();
    restore();
  }
  return 0;
}
