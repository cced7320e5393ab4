import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, type Managed } from './process.js';

/**
 * Shared pieces of the local multi-node harnesses (Redis Sentinel, Redis Cluster, Elasticsearch
 * cluster): free ports, a node killed without warning, and polling with a deadline.
 */

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** SIGKILL to a started node and everything it forked (its process group), then waits for its exit. */
export async function killNode(node: Managed): Promise<void> {
  try {
    process.kill(-node.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  await node.exited;
}

/** Polls `check` until it returns true; throws `what` with the last error after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs = 250,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s${last ? ` (${last})` : ''}`);
    await sleep(everyMs);
  }
}

/** `redis-cli -p <port> <args…>`: its output, or an Error with its stderr. */
export function redisCli(port: number, args: string[]): string {
  const r = run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args]);
  if (r.status !== 0)
    throw new Error(
      `redis-cli -p ${port} ${args.join(' ')}: ${r.stderr.trim() || r.stdout.trim() || `exit ${r.status}`}`,
    );
  return r.stdout;
}

/** `key:value` lines of an INFO or CLUSTER INFO answer. */
export function infoFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) fields.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return fields;
}
