/** The processes a bench starts and watches: spawning crtrail, ports, health, CPU time and peak RSS from /proc. */
import { setTimeout as sleep } from 'node:timers/promises';
import { execSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { loadEnv, workerExecArgv } from '@crtrail/config';
import { root } from './setup.js';
import { round } from './stats.js';

export function freePort(): Promise<number> {
  return new Promise((r) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => r(port));
    });
  });
}

/** Peak resident set (VmHWM) of a process, in MB. */
export function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? round(Number(m[1]) / 1024) : 0;
}

const CLOCK_TICKS = Number(execSync('getconf CLK_TCK').toString().trim()) || 100;

/** CPU time (user + system) in ms of a `/proc/.../stat` file; 0 if it is gone. */
function statCpuMs(path: string): number {
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const text = readFileSync(path, 'utf8');
    const fields = text.slice(text.lastIndexOf(') ') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/**
 * CPU ms of a process's main thread, and of its other live threads together (for Node: V8's
 * garbage-collection and compiler helpers, libuv's pool), so far.
 */
export function threadCpuMs(pid: number): { main: number; others: number } {
  const main = statCpuMs(`/proc/${pid}/task/${pid}/stat`);
  let all = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) all += statCpuMs(`/proc/${pid}/task/${tid}/stat`);
  return { main, others: all - main };
}

/** CPU time (user + system) a process has used so far, in ms; 0 if it is gone. */
export function cpuMs(pid: number): number {
  return statCpuMs(`/proc/${pid}/stat`);
}

/** The pid of the process whose command line contains `needle`. */
function pidOf(needle: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) return Number(entry);
    } catch {
      /* gone */
    }
  }
  return undefined;
}

/** The Elasticsearch server JVM (not its launcher) and redis-server, when they run on this machine. */
export const esPid = (): number | undefined => pidOf('org.elasticsearch.bootstrap.Elasticsearch');
export const redisPid = (): number | undefined => pidOf('redis-server');

/**
 * `crtrail <args>` as an operator runs it; worker processes get the heap limit `crtrail up` gives
 * the workers it starts. `prefix` (e.g. `taskset -c 0`) runs it under another command, which execs it:
 * the pid is crtrail's.
 */
export function crtrail(args: string[], env: Record<string, string>, prefix: string[] = []): ChildProcess {
  const nodeArgs = args.includes('--worker-only') ? workerExecArgv(loadEnv()) : [];
  const argv = [process.execPath, ...nodeArgs, join(root, 'services/cli/bin/crtrail.js'), ...args];
  return spawn(prefix[0] ?? argv[0]!, [...prefix.slice(1), ...(prefix.length ? argv : argv.slice(1))], {
    env: { ...process.env, CRTRAIL_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

export async function waitHttp(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  throw new Error(`${url} did not come up`);
}

export async function stop(p: ChildProcess): Promise<void> {
  // A child killed by a signal has no exit code, only a signal code: it will never emit 'exit' again.
  if (p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await done;
}
