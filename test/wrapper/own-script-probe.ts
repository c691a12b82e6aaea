/**
 * Run inside a sandbox as one of mcpw's own scripts (launcher.test.ts): prints what it sees as one
 * JSON line.
 */
import { existsSync, readdirSync } from "node:fs";

let evalRefused = false;
try {
  eval("1");
} catch {
  evalRefused = true;
}
const host = process.argv[2]!;
console.log(JSON.stringify({ script: process.argv[1], args: process.argv.slice(2), lib: readdirSync("/opt/mcpw").sort(), hostCheckout: existsSync(host), evalRefused }));
