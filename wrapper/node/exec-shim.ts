/**
 * `node exec-via-bridge.cjs <command> [args...]`, run inside the sandbox in place of a program the
 * policy lists under exec.viaBridge: asks the bridge to run it on the host, then writes its output
 * and exits with its exit code, so the caller gets an ordinary child process.
 */
import { ChannelClient, ChannelError } from "./channel-client.js";

const [command, ...args] = process.argv.slice(2);
const client = new ChannelClient(process.env.MCPW_CHANNEL_DIR ?? "/run/mcpw");
client
  .request<{ exitCode: number | null; signal: string | null; stdout: string; stderr: string; truncated: boolean; timedOut: boolean }>("sandbox.op", {
    op: { op: "exec", command, args },
  })
  .then(
    (r) => {
      process.stdout.write(Buffer.from(r.stdout, "base64"));
      process.stderr.write(Buffer.from(r.stderr, "base64"));
      if (r.timedOut) process.stderr.write(`mcpw: ${command} was stopped by the bridge's time limit\n`);
      process.exitCode = r.exitCode ?? 128 + 9;
    },
    (e: unknown) => {
      process.stderr.write(`mcpw: ${command}: ${e instanceof ChannelError ? e.body.message : (e as Error).message}\n`);
      process.exitCode = 126;
    },
  );
