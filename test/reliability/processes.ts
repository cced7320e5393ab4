import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@crtrail/stack';
import { freePort } from '@crtrail/testkit';

/**
 * The processes of a scenario, started as an operator would: a `redis-server` of the scenario's own
 * (so it may be killed), and `crtrail up` in its modes. Each writes its output to a log file in the
 * scenario's temporary directory: a failing row's explanation is in there.
 */

export { freePort };

/**
 * Process groups this module started and that are still alive. Every process runs in a group of its
 * own (`detached`), so `crtrail up`'s worker children go with it; whatever is left when this process
 * exits (a failed scenario, Ctrl-C) is killed by group id.
 */
const liveGroups = new Set<number>();
const killGroup = (pgid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(-pgid, signal);
  } catch {
    /* already gone */
  }
};
process.once('exit', () => {
  for (const g of liveGroups) killGroup(g, 'SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => process.exit(130));
}

export interface Proc {
  name: string;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Whether the process is still running. */
  alive(): boolean;
  /** SIGKILL to the process and everything it started (its group), and waits for its exit. */
  killAll(): Promise<void>;
  /** Sends `signal` to the process and waits (at most `timeoutMs`, then SIGKILL) for the exit. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startProc(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): Proc {
  const log: WriteStream = createWriteStream(logFile, { flags: 'a' });
  log.write(`--- ${new Date().toISOString()} ${command} ${args.join(' ')}\n`);
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: repoRoot(), detached: true });
  const pgid = child.pid!;
  liveGroups.add(pgid);
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => {
      // Children of the group (a supervised worker) are not orphaned: they belong to the scenario.
      killGroup(pgid, 'SIGKILL');
      liveGroups.delete(pgid);
      // Let the pipes flush what the process wrote last before the log is closed.
      setTimeout(() => {
        log.end(`--- exit code=${code} signal=${signal}\n`);
        r({ code, signal });
      }, 50);
    }),
  );
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    name,
    child,
    exited,
    alive,
    async killAll() {
      killGroup(pgid, 'SIGKILL');
      await exited;
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 60_000) {
      if (alive()) child.kill(signal);
      const timer = setTimeout(() => alive() && child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number, proc?: Proc): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc && !proc.alive()) throw new Error(`${what}: ${proc.name} exited while starting`);
    try {
      if (await check()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready within ${timeoutMs / 1000} s`);
    await sleep(150);
  }
}

async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
  await res.arrayBuffer();
  return res.ok;
}

/** A scenario's own redis-server (AOF `everysec`, or no persistence at all), restartable on its port and data dir. */
export class RedisServer {
  proc?: Proc;
  constructor(
    readonly port: number,
    readonly dir: string,
    readonly aof: boolean,
    private readonly logFile: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(dir: string, aof: boolean, logDir: string): Promise<RedisServer> {
    mkdirSync(dir, { recursive: true });
    const r = new RedisServer(await freePort(), dir, aof, join(logDir, 'redis.log'));
    await r.start();
    return r;
  }

  async start(): Promise<void> {
    const persistence = this.aof ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no'];
    this.proc = startProc(
      'redis-server',
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--save',
        '',
        ...persistence,
        '--daemonize',
        'no',
      ],
      process.env,
      this.logFile,
    );
    await until(`redis-server :${this.port}`, () => pingRedis(this.port), 15_000, this.proc);
  }

  /** `kill -9`: no shutdown save, no AOF rewrite; what is on disk is what survives. */
  async kill9(): Promise<void> {
    await this.proc?.stop('SIGKILL');
  }

  async stop(): Promise<void> {
    await this.proc?.killAll();
  }
}

/** PING over a raw socket (no client library, no reconnect logic to get in the way). */
function pingRedis(port: number): Promise<boolean> {
  return new Promise((resolvePing) => {
    import('node:net').then(({ connect }) => {
      const socket = connect({ host: '127.0.0.1', port });
      const done = (ok: boolean): void => {
        socket.destroy();
        resolvePing(ok);
      };
      socket.setTimeout(1_000, () => done(false));
      socket.once('error', () => done(false));
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.once('data', (d) => done(d.toString().startsWith('+PONG')));
    });
  });
}

export const CLI = (): string => join(repoRoot(), 'services', 'cli', 'bin', 'crtrail.js');

export type CrtrailMode = 'webhook' | 'worker' | 'all';

/** One `crtrail up` process: `--webhook-only`, `--worker-only`, or the all-in-one supervisor. */
export class CrtrailProcess {
  proc?: Proc;
  readonly starts: number[] = [];
  constructor(
    readonly mode: CrtrailMode,
    readonly env: NodeJS.ProcessEnv,
    readonly logFile: string,
    readonly nodeArgs: string[] = [],
    /** Instead of `crtrail up …`: a script that starts the same service (node args before it). */
    readonly entry?: string,
  ) {}

  get port(): number {
    return Number(this.mode === 'worker' ? this.env.CRTRAIL_WORKER_PORT : this.env.CRTRAIL_PORT);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.child.pid;
  }

  async start(): Promise<void> {
    const flags = this.mode === 'webhook' ? ['--webhook-only'] : this.mode === 'worker' ? ['--worker-only'] : [];
    const args = this.entry
      ? [...this.nodeArgs, '--import', 'tsx', this.entry]
      : [...this.nodeArgs, CLI(), 'up', ...flags];
    this.proc = startProc(
      this.entry ? `node ${this.entry}` : `crtrail up ${flags.join(' ')}`.trim(),
      process.execPath,
      args,
      this.env,
      this.logFile,
    );
    this.starts.push(Date.now());
    await until(`crtrail ${this.mode}`, () => httpOk(`${this.url}/healthz`), 120_000, this.proc);
  }

  async signal(signal: NodeJS.Signals, timeoutMs = 60_000) {
    return this.proc ? this.proc.stop(signal, timeoutMs) : { code: null, signal: null };
  }

  alive(): boolean {
    return this.proc?.alive() ?? false;
  }

  /** The process and what it started (a supervised worker), SIGKILLed. */
  async killAll(): Promise<void> {
    await this.proc?.killAll();
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }
}
