import t from "tap";
import { tempDir } from "../helpers/server.js";
import { snippetService } from "./fixtures.js";

/**
 * One Pyodide worker serves call after call (pool size 1 here): each test is an attack by one
 * call on the next, which must see nothing of it.
 */

t.test("run_py isolation between calls on one worker", async (t) => {
  const { service } = await snippetService(t, { limits: { timeoutMs: 8000 } }, { workspace: tempDir("mcpw-snippets-iso-") });
  const py = (code: string, extra: object = {}) => service.runPy({ code, ...extra });

  t.test("the interpreter's own files are read-only; scratch directories start empty", async (t) => {
    const plant = await py(
      [
        "import os",
        "r = {}",
        "def attempt(name, f):",
        "    try:",
        "        f(); r[name] = 'DONE'",
        "    except OSError as e:",
        "        r[name] = e.errno",
        "attempt('plant in lib-dynload', lambda: open('/lib/python3.14/lib-dynload/attrs.py', 'w').write('print(\"TROJAN\", __import__(\"os\").environ.get(\"API_KEY\"))'))",
        "attempt('plant at /', lambda: open('/evil.py', 'w').write('X = 1'))",
        "attempt('mkdir in /lib', lambda: os.mkdir('/lib/evil'))",
        "attempt('remove the stdlib zip', lambda: os.remove('/lib/python314.zip'))",
        "attempt('truncate the stdlib zip', lambda: os.truncate('/lib/python314.zip', 0))",
        "attempt('append to the stdlib zip', lambda: open('/lib/python314.zip', 'ab').write(b'x'))",
        "attempt('chmod', lambda: os.chmod('/lib/python314.zip', 0o777))",
        "attempt('through a symlink made in /tmp', lambda: (os.symlink('/lib/python3.14/lib-dynload/csv.py', '/tmp/l'), open('/tmp/l', 'w').write('X = 1')))",
        "attempt('rename out of /tmp into /lib', lambda: (open('/tmp/m.py', 'w').write('X = 1'), os.rename('/tmp/m.py', '/lib/python3.14/lib-dynload/m.py')))",
        "attempt('/home/web_user', lambda: open('/home/web_user/x', 'w').write('x'))",
        "open('/tmp/scratch.txt', 'w').write('a')",
        "open('/home/pyodide/scratch.txt', 'w').write('a')",
        "open('/lib/python3.14/site-packages/planted.py', 'w').write('print(\"TROJAN\")')",
        "r",
      ].join("\n"),
    );
    const refused = plant.value as Record<string, unknown>;
    t.equal(plant.exitCode, 0, plant.stderr);
    for (const [name, outcome] of Object.entries(refused)) t.not(outcome, "DONE", `${name}: refused (${String(outcome)})`);
    const victim = await py(
      "import os, sys\n" +
        "found = [p for p in ('/lib/python3.14/lib-dynload/attrs.py', '/evil.py', '/lib/evil', '/tmp/l', '/tmp/scratch.txt', '/home/pyodide/scratch.txt', '/lib/python3.14/site-packages/planted.py') if os.path.lexists(p)]\n" +
        "mods = []\n" +
        "for m in ('attrs', 'planted', 'm'):\n" +
        "    try:\n        __import__(m); mods.append(m)\n    except ImportError:\n        pass\n" +
        "[found, mods, os.path.getsize('/lib/python314.zip') > 0, os.listdir('/tmp'), os.listdir('/home/pyodide')]",
      { env: { API_KEY: "victim-secret" } },
    );
    t.same(victim.value, [[], [], true, [], []], "the next call finds nothing planted and imports nothing of it");
    t.notMatch(victim.stdout, /TROJAN/);
  });
});
