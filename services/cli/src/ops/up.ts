import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import closeWithGrace from 'close-with-grace';
import { pino, transport, type Logger } from 'pino';
import { loadConfig, loadEnv, repoRoot, workerExecArgv, type Env } from '@crtrail/config';
// Types only: the stack code (it fetches and runs Redis and Elasticsearch) is imported where it starts them.
import type { Managed } from '@crtrail/stack';
import { describeRedis, pingRedis, redactUrl, redisTargetFromEnv } from '@crtrail/queue';
// The webhook, the worker and the Elasticsearch client are imported where this process runs them
// (see `up`): a process loads only its own part's modules.
import type { RunningWebhook, WebhookAuth } from '@crtrail/webhook';
import type { RunningWorker } from '@crtrail/worker';
import { EXIT } from '../errors.js';
import { kubeconfigFor, reachableUrl, serverCertificateAuthority } from './kubeconfig.js';
import { assertPortFree, clearRunState, signalGroup, writeRunState } from './run-state.js';

export interface UpOptions {
  webhookOnly?: boolean;
  workerOnly?: boolean;
  workers?: number;
  /** Started by another `crtrail up`, which reports: no summary, no "using …" lines. */
  supervised?: boolean;
}

/** How long a shutdown may take before close-with-grace exits anyway. */
const SHUTDOWN_GRACE_MS = 60_000;
/** How long a worker process may take to answer /healthz after it was started. */
const WORKER_START_MS = 120_000;

const CLI = fileURLToPath(new URL('../../bin/crtrail.js', import.meta.url));

/** A worker in its own process (`crtrail up --worker-only`), started by `crtrail up`. */
interface WorkerProcess {
  child: ChildProcess;
  metricsUrl: string;
  stop(): Promise<void>;
}

/**
 * Workers run in processes of their own, not in the webhook's: their CPU-bound batches would
 * otherwise hold up the event loop that acks the apiserver, and each gets the heap limit and the
 * lower CPU priority a worker-only process takes (CRTRAIL_WORKER_HEAP_MB, CRTRAIL_WORKER_NICE).
 */
async function startWorkerProcess(env: Env, index: number): Promise<WorkerProcess> {
  const port = env.CRTRAIL_WORKER_PORT + index;
  const child = spawn(process.execPath, [...workerExecArgv(env), CLI, 'up', '--worker-only', '--supervised'], {
    env: { ...process.env, CRTRAIL_WORKER_PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  const host = env.CRTRAIL_HOST === '0.0.0.0' ? '127.0.0.1' : env.CRTRAIL_HOST;
  const metricsUrl = `http://${host}:${port}/metrics`;
  const deadline = Date.now() + WORKER_START_MS;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`worker ${index} exited with code ${child.exitCode} while starting (its messages are above)`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`worker ${index} did not answer on ${host}:${port} within ${WORKER_START_MS / 1000} s`);
    }
    try {
      if ((await fetch(`http://${host}:${port}/healthz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    await sleep(200);
  }
  return {
    child,
    metricsUrl,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * Writes `.crtrail/audit-webhook.kubeconfig` for the webhook this `up` runs. Its server is
 * CRTRAIL_PUBLIC_URL when set, else the listening address, with a wildcard host (0.0.0.0, ::), which no
 * apiserver can dial, replaced by this machine's name.
 */
function writeRepoKubeconfig(env: Env, listeningUrl: string, auth: WebhookAuth | undefined): string {
  const dir = join(repoRoot(), '.crtrail');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'audit-webhook.kubeconfig');
  writeFileSync(file, kubeconfigFor(env, reachableUrl(env, listeningUrl), auth));
  return file;
}

/**
 * Logs as people read them on a terminal (pino-pretty: one line each, local times), JSON otherwise
 * (files, collectors). Request logs are at debug: a terminal shows what happened, not every POST.
 */
function createLogger(env: Env): Logger {
  const options = { level: env.CRTRAIL_LOG_LEVEL, base: { pid: process.pid } };
  if (!process.stdout.isTTY) return pino(options);
  return pino(
    options,
    transport({
      target: 'pino-pretty',
      options: { colorize: !process.env.NO_COLOR, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
    }),
  );
}

/** `npm start` / `crtrail up`: Redis and Elasticsearch (started if absent), templates, webhook and worker(s). */
export async function up(options: UpOptions): Promise<void> {
  const env = loadEnv();
  // Validated before anything starts: a typo fails here, naming the key and its line.
  const config = loadConfig(env.CRTRAIL_CONFIG);
  // Only what this process runs is loaded: a `--webhook-only` process never loads the worker, the
  // change engine or the Elasticsearch client, nor a `--worker-only` one Fastify (measured: 91 MB
  // of RSS for the webhook's modules alone against 111 MB for all of them, before any batch).
  const webhookPart = options.workerOnly ? undefined : await import('@crtrail/webhook');
  const workerPart = options.workerOnly ? await import('@crtrail/worker') : undefined;
  const store = options.webhookOnly ? undefined : await import('@crtrail/store');
  // Likewise TLS files and the tokens file (a malformed line names file:line).
  const auth = webhookPart?.loadWebhookAuth(env);
  // No `service` in the base: each child names its own, and pino would print a key twice otherwise.
  const log = createLogger(env);
  const allInOne = !options.webhookOnly && !options.workerOnly && !options.supervised;
  // Every port this `up` will listen on is checked before minutes of start-up, not after.
  if (!options.workerOnly) await assertPortFree(env.CRTRAIL_HOST, env.CRTRAIL_PORT, 'CRTRAIL_PORT');
  if (!options.webhookOnly && !options.supervised) {
    for (let i = 0; i < Math.max(1, options.workers ?? 1); i++) {
      await assertPortFree(
        env.CRTRAIL_HOST,
        env.CRTRAIL_WORKER_PORT === 0 ? 0 : env.CRTRAIL_WORKER_PORT + i,
        'CRTRAIL_WORKER_PORT',
      );
    }
  }
  const say = (m: string): void => {
    if (!options.supervised) process.stderr.write(`crtrail: ${m}\n`);
  };
  const started: Managed[] = [];
  const workers: RunningWorker[] = [];
  const workerProcesses: WorkerProcess[] = [];
  let stopping = false;
  let webhook: RunningWebhook | undefined;

  const saveState = (): void => {
    if (!allInOne) return;
    writeRunState({
      pid: process.pid,
      startedAt: new Date().toISOString(),
      ...(webhook ? { webhook: webhook.url } : {}),
      workers: workerProcesses.map((w) => ({ pid: w.child.pid ?? 0, metrics: w.metricsUrl })),
      services: started.map((m) => ({ name: m.name, pid: m.pid })),
    });
  };
  const stopAll = async (): Promise<void> => {
    stopping = true;
    // Order matters: stop taking batches, drain the workers, then the services we started.
    await webhook?.close();
    await Promise.all(workers.map((w) => w.close()));
    await Promise.all(workerProcesses.map((w) => w.stop()));
    for (const m of [...started].reverse()) {
      say(`stopping ${m.name} (pid ${m.pid})`);
      await m.stop();
    }
    if (allInOne) clearRunState(process.pid);
  };
  // A second Ctrl-C cuts the drain short, but never leaves Redis and Elasticsearch running unseen:
  // they are told to stop at once (Redis's AOF is fsynced on SIGTERM), and `crtrail status` still lists them.
  const onSecondSignal = (signal: string): void => {
    say(
      `second ${signal}: stopping ${[...workerProcesses.map(() => 'worker'), ...started.map((m) => m.name)].join(', ') || 'everything'} at once`,
    );
    for (const w of workerProcesses) if (w.child.pid) signalGroup(w.child.pid, 'SIGTERM');
    for (const m of started) signalGroup(m.pid, 'SIGTERM');
    process.exit(EXIT.failed);
  };
  closeWithGrace({ delay: SHUTDOWN_GRACE_MS, onSecondSignal }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'fatal error, shutting down');
    else say(`${signal ?? 'exit'}: draining and stopping…`);
    await stopAll();
  });

  if (options.workerOnly && env.CRTRAIL_WORKER_NICE > 0) {
    // Workers are throughput work; the webhook (its own process) answers the apiserver first.
    setPriority(Math.min(19, getPriority() + env.CRTRAIL_WORKER_NICE));
  }
  workerPart?.tuneWorkerProcessGc();
  // A worker process that dies (out of memory, killed) is started again: the webhook keeps queueing
  // meanwhile, and its batches are retried from Redis. A Ctrl-C reaches the workers too: no restart then.
  const supervise = (index: number, w: WorkerProcess): void => {
    w.child.once('exit', (code, signal) => {
      setTimeout(() => {
        if (stopping) return;
        say(`worker ${index} exited (${signal ?? `code ${code}`}); starting it again`);
        startWorkerProcess(env, index).then(
          (next) => {
            workerProcesses[index] = next;
            supervise(index, next);
            saveState();
          },
          (err: Error) => say(`worker ${index} could not be started again: ${err.message}`),
        );
      }, 1_000).unref();
    });
  };
  try {
    const redisTarget = redisTargetFromEnv(env);
    if (redisTarget.mode !== 'single' || redisTarget.auth.tls) {
      // Sentinels, a Redis Cluster or a TLS Redis are a production deployment's: never started here
      // (nor probed with a plain-text PING); the webhook and the workers wait for them at start.
      say(`using ${describeRedis(redisTarget)}`);
    } else if (options.webhookOnly || options.workerOnly) {
      // A webhook or worker alone is a part of a deployment whose Redis is someone else's: starting one
      // here would ack batches into a Redis no other part sees. (A worker `up` supervises is started
      // after `up` itself made sure of Redis, so it finds one.)
      if (!(await pingRedis(env.CRTRAIL_REDIS_URL))) {
        throw new Error(
          `Redis at ${redactUrl(env.CRTRAIL_REDIS_URL)} does not answer: --${options.webhookOnly ? 'webhook' : 'worker'}-only never starts one; start Redis or set CRTRAIL_REDIS_URL to a running one`,
        );
      }
      say(`using Redis at ${redactUrl(env.CRTRAIL_REDIS_URL)}`);
    } else {
      // The all-in-one starts a durable Redis (appendonly yes, data under the cache folder, kept across runs).
      const { ensureRedis } = await import('@crtrail/stack');
      const redis = await ensureRedis(env.CRTRAIL_REDIS_URL, say);
      if (redis.started) started.push(redis.started);
    }
    if (store) {
      const { authHeaders, shownEsUrl } = store;
      const conn = store.esConnectionFromEnv(env);
      if (options.workerOnly) {
        // Like Redis above: a worker alone uses the deployment's Elasticsearch, it never starts one.
        const probe = await store.probeElasticsearch(env.CRTRAIL_ES_URL, authHeaders(conn));
        if (!probe.ok) {
          throw new Error(
            `Elasticsearch at ${shownEsUrl(env.CRTRAIL_ES_URL)} does not answer (${probe.error ?? probe.status}): --worker-only never starts one; check CRTRAIL_ES_URL and its credentials`,
          );
        }
        say(`using Elasticsearch at ${shownEsUrl(env.CRTRAIL_ES_URL)} (${probe.status})`);
      } else {
        const { ensureElasticsearch } = await import('@crtrail/stack');
        const es = await ensureElasticsearch(env.CRTRAIL_ES_URL, authHeaders(conn), say);
        if (es.started) started.push(es.started);
      }
      const count = Math.max(1, options.workers ?? 1);
      for (let i = 0; i < count; i++) {
        if (workerPart) {
          const workerEnv = { ...env, CRTRAIL_WORKER_PORT: env.CRTRAIL_WORKER_PORT + i };
          workers.push(
            await workerPart.startWorker({ env: workerEnv, config, log: log.child({ service: 'worker', worker: i }) }),
          );
        } else {
          const w = await startWorkerProcess(env, i);
          workerProcesses.push(w);
          say(`worker ${i} started (pid ${w.child.pid})`);
          supervise(i, w);
        }
      }
    }
    if (webhookPart) webhook = await webhookPart.startWebhook(env, log.child({ service: 'webhook' }), auth);
  } catch (err) {
    await stopAll();
    throw err;
  }

  saveState();
  const lines: string[] = [''];
  if (webhook) {
    lines.push(
      `webhook      ${webhook.url}/audit${auth?.tokens || auth?.tls?.clientCa ? '' : '/<cluster>'}   (POST audit.k8s.io/v1 EventList)`,
    );
    // Only the all-in-one writes the repository's kubeconfig: a `--webhook-only` (tests run one on port
    // 0) must not overwrite the file a running `npm start` handed to an apiserver.
    if (!options.webhookOnly) {
      const kubeconfig = writeRepoKubeconfig(env, webhook.url, auth);
      lines.push(`kubeconfig   ${kubeconfig}   (kube-apiserver --audit-webhook-config-file)`);
    }
    lines.push(`metrics      ${webhook.url}/metrics`);
  }
  for (const w of [...workers, ...workerProcesses]) if (w.metricsUrl) lines.push(`worker       ${w.metricsUrl}`);
  if (store && workers.length + workerProcesses.length > 0) {
    // One node's search URL is enough to look (any node of a cluster answers it).
    lines.push(
      `records      ${store.shownEsUrl(env.CRTRAIL_ES_URL).split(',')[0]}/${store.indexNames(env.CRTRAIL_INDEX_PREFIX).alias}/_search`,
    );
  }
  // The replay hint carries what this webhook demands, so it works as printed (credentials as placeholders).
  const replayFlags = [
    webhook && webhook.url !== 'http://127.0.0.1:8080' ? `--url ${webhook.url}` : '',
    env.CRTRAIL_TLS_CERT
      ? `--ca ${serverCertificateAuthority(env.CRTRAIL_TLS_CERT, env.CRTRAIL_TLS_CLIENT_CA) ?? '<CA file>'}`
      : '',
    env.CRTRAIL_TLS_CLIENT_CA ? '--cert <client.crt> --key <client.key>' : '',
    auth?.tokens ? '--token <token>' : '',
  ].filter(Boolean);
  lines.push(
    `try          npx crtrail demo${replayFlags.length ? ` ${replayFlags.join(' ')}` : ''}   (or: npx crtrail replay examples/audit/public/* --cluster samples)`,
    'Ctrl-C stops everything crtrail started (npx crtrail status / down from another terminal).',
    '',
  );
  if (!options.supervised) process.stderr.write(lines.join('\n') + '\n');
}
