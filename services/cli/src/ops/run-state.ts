import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from '@crtrail/config';

/**
 * What a running all-in-one `crtrail up` has started, kept in `.crtrail/up.json` so that `crtrail
 * status` and `crtrail down` can find it from another terminal — and find what a crashed or twice
 * interrupted `up` left behind (a 1 GiB Elasticsearch nobody could otherwise name).
 */
export interface RunState {
  pid: number;
  startedAt: string;
  webhook?: string;
  workers: Array<{ pid: number; metrics?: string }>;
  /** Redis / Elasticsearch this `up` started (process group leaders). */
  services: Array<{ name: string; pid: number }>;
}

export function runStateFile(): string {
  return join(repoRoot(), '.crtrail', 'up.json');
}

export function writeRunState(state: RunState): void {
  mkdirSync(join(repoRoot(), '.crtrail'), { recursive: true });
  writeFileSync(runStateFile(), `${JSON.stringify(state, null, 2)}\n`);
}

export function readRunState(): RunState | undefined {
  const file = runStateFile();
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RunState;
  } catch {
    return undefined;
  }
}

export function clearRunState(pid: number): void {
  // Only the `up` that wrote it removes it (a second `up` may have taken over the file).
  if (readRunState()?.pid === pid) rmSync(runStateFile(), { force: true });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGTERM (or `signal`) to a process group, else to the process alone; false if it was gone. */
export function signalGroup(pid: number, signal: NodeJS.Signals = 'SIGTERM'): boolean {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, signal);
      return true;
    } catch {
      /* try the next form */
    }
  }
  return false;
}

/** Fails unless `port` on `host` can be listened on (0 always can): checked before anything starts. */
export async function assertPortFree(host: string, port: number, variable: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolveFree, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `port ${port} on ${host} is already in use (${variable}): another crtrail up? (npx crtrail status) — or set ${variable}`
            : `cannot listen on ${host}:${port} (${variable}, CRTRAIL_HOST): ${err.message}`,
        ),
      ),
    );
    server.listen(port, host, () => server.close(() => resolveFree()));
  });
}
