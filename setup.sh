#!/usr/bin/env bash
# One command on a fresh machine: system packages, npm dependencies and build, a report of the
# isolation layers, then a first sandboxed run that shows what a sandboxed program can and cannot do.
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
command -v bwrap >/dev/null 2>&1 || need_apt+=(bubblewrap)
command -v setpriv >/dev/null 2>&1 || need_apt+=(util-linux)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${need_apt[*]}"
    apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: missing system packages; run this, then run ./setup.sh again:"
    echo "  sudo apt-get update && sudo apt-get install -y ${need_apt[*]}"
    exit 1
  fi
fi

node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || { echo "setup: mcpw needs Node.js 20 or newer (found $(node --version))"; exit 1; }
echo "setup: npm ci (installs dependencies and builds dist/)"
npm ci --no-audit --no-fund --loglevel=error

echo
node bin/mcpw.js doctor || true
echo
echo "setup: a first sandboxed run (mcpw run -- node -e ...):"
node bin/mcpw.js run -q -- node -e 'const hostHome = process.argv[1];
const fs = require("fs");
const tryIt = (what, f) => { try { console.log("  " + what + ": " + f()); } catch (e) { console.log("  " + what + ": refused (" + e.message + ")"); } };
tryIt("working directory", () => process.cwd());
tryIt("write /mount/hello.txt", () => (fs.writeFileSync("/mount/hello.txt", "hi"), "ok"));
tryIt("list the host home " + hostHome, () => fs.readdirSync(hostHome).join(" "));
tryIt("read /etc/shadow", () => fs.readFileSync("/etc/shadow", "utf8").slice(0, 10));
tryIt("run /bin/sh", () => require("child_process").execSync("id").toString());
fetch("http://example.com/").then(() => console.log("  fetch example.com: reached"), (e) => console.log("  fetch example.com: refused (" + (e.cause ? e.cause.message : e.message) + ")"));
' "$HOME"
echo
echo "setup: done. Use it in an MCP client configuration as (after mkdir -p ~/.mcp-memory)"
echo '  "command": "'"$PWD"'/bin/mcpw.js", "args": ["run", "--mount", "'"$HOME"'/.mcp-memory", "--set-env", "MEMORY_FILE_PATH=/mount/memory.jsonl", "--", "npx", "@modelcontextprotocol/server-memory"]'
echo "or see README.md for the server, bridge and token workflow. Tests: npm test"
