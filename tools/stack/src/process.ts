import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

/** A background process crtrail started and must stop again. */
export interface Managed {
  readonly name: string;
  readonly pid: number;
  readonly exited: Promise<number | null>;
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 30_000;

/**
 * Spawns `command` in its own process group so that stopping it also stops the grandchildren
 * (the Elasticsearch launcher forks the server JVM).
 */
export function spawnManaged(name: string, command: string, args: string[], options: SpawnOptions): Managed {
  const child: ChildProcess = spawn(command, args, { ...options, detached: true });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const pid = child.pid;
  const exited = new Promise<number | null>((resolveExit) => {
    child.once('exit', (code) => resolveExit(code));
    child.once('error', () => resolveExit(-1));
  });
  let alive = true;
  void exited.then(() => {
    alive = false;
  });
  return {
    name,
    pid,
    exited,
    async stop() {
      if (!alive) return;
      signalGroup(pid, 'SIGTERM');
      const timedOut = await Promise.race([exited.then(() => false), sleep(STOP_GRACE_MS).then(() => true)]);
      if (timedOut) {
        signalGroup(pid, 'SIGKILL');
        await exited;
      }
    },
  };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Runs a command to completion, returning its exit status and output (never throws on non-zero). */
export function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(command, args, { ...options, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

/**
 * {@link run} without blocking the event loop, calling `tick(seconds)` every `everyMs` while the
 * command runs: a long download (Maven fetching Elasticsearch) shows it is alive.
 */
export function runWithProgress(
  command: string,
  args: string[],
  tick: (seconds: number) => void,
  everyMs = 10_000,
): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const started = Date.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setInterval(() => tick(Math.round((Date.now() - started) / 1000)), everyMs);
    const done = (status: number): void => {
      clearInterval(timer);
      resolveRun({ status, stdout, stderr });
    };
    child.once('error', (err) => {
      stderr += err.message;
      done(-1);
    });
    child.once('exit', (code) => done(code ?? -1));
  });
}

/** `true` when `command` is on the PATH. */
export function hasCommand(command: string): boolean {
  return run('sh', ['-c', `command -v ${command}`]).status === 0;
}
