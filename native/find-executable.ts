import { accessSync, constants, statSync } from "node:fs";
import { join } from "node:path";

/** The first executable regular file called `name` in `dirs`, or null. */
export function findExecutableOrNull(name: string, dirs: string[]): string | null {
  for (const d of dirs) {
    const c = join(d, name);
    try {
      if (!statSync(c).isFile()) continue;
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // keep looking
    }
  }
  return null;
}
