import { mkdirSync, writeFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { join } from 'node:path';
import closeWithGrace from 'close-with-grace';
import { pino } from 'pino';
import { loadConfig, loadEnv } from '@crtrail/config';
import { ensureElasticsearch, ensureRedis, repoRoot, type Managed } from '@crtrail/stack';
import { authHeaders, esConnectionFromEnv, indexNames } from '@crtrail/store';
import { loadWebhookAuth, startWebhook, type RunningWebhook } from '@crtrail/webhook';
import { startWorker, type RunningWorker } from '@crtrail/worker';
import { serverCertificateAuthority, webhookKubeconfig } from './kubeconfig.js';

export interface UpOptions {
  webhookOnly?: boolean;
  workerOnly?: boolean;
  workers?: number;
}

/** How long a shutdown may take before close-with-grace exits anyway. */
const SHUTDOWN_GRACE_MS = 60_000;

/** `npm start` / `crtrail up`: Redis and Elasticsearch (started if absent), templates, webhook and worker(s). */
export async function up(options: UpOptions): Promise<void> {
  const env = loadEnv();
  // Validated before anything starts: a typo fails here, naming the key and its line.
  const config = loadConfig(env.CRTRAIL_CONFIG);
  // Likewise TLS files and the tokens file (a malformed line names file:line).
  const auth = options.workerOnly ? undefined : loadWebhookAuth(env);
  // No `service` in the base: each child names its own, and pino would print a key twice otherwise.
  const log = pino({ level: env.CRTRAIL_LOG_LEVEL, base: { pid: process.pid } });
  const say = (m: string): void => void process.stderr.write(`crtrail: ${m}\n`);
  const started: Managed[] = [];
  const workers: RunningWorker[] = [];
  let webhook: RunningWebhook | undefined;

  const stopAll = async (): Promise<void> => {
    // Order matters: stop taking batches, drain the workers, then the services we started.
    await webhook?.close();
    await Promise.all(workers.map((w) => w.close()));
    for (const m of started.reverse()) {
      say(`stopping ${m.name} (pid ${m.pid})`);
      await m.stop();
    }
  };
  closeWithGrace({ delay: SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'fatal error, shutting down');
    else say(`${signal ?? 'exit'}: draining and stopping…`);
    await stopAll();
  });

  if (options.workerOnly && env.CRTRAIL_WORKER_NICE > 0) {
    // Workers are throughput work; the webhook (its own process) answers the apiserver first.
    setPriority(Math.min(19, getPriority() + env.CRTRAIL_WORKER_NICE));
  }
  try {
    const redis = await ensureRedis(env.CRTRAIL_REDIS_URL, say);
    if (redis.started) started.push(redis.started);
    if (!options.webhookOnly) {
      const conn = esConnectionFromEnv(env);
      const es = await ensureElasticsearch(env.CRTRAIL_ES_URL, authHeaders(conn), say);
      if (es.started) started.push(es.started);
      const count = Math.max(1, options.workers ?? 1);
      for (let i = 0; i < count; i++) {
        const workerEnv = { ...env, CRTRAIL_WORKER_PORT: env.CRTRAIL_WORKER_PORT + i };
        workers.push(await startWorker({ env: workerEnv, config, log: log.child({ service: 'worker', worker: i }) }));
      }
    }
    if (!options.workerOnly) {
      webhook = await startWebhook(env, log.child({ service: 'webhook' }), auth);
    }
  } catch (err) {
    await stopAll();
    throw err;
  }

  const lines: string[] = [''];
  if (webhook) {
    const dir = join(repoRoot(), '.crtrail');
    mkdirSync(dir, { recursive: true });
    const kubeconfig = join(dir, 'audit-webhook.kubeconfig');
    writeFileSync(
      kubeconfig,
      webhookKubeconfig(webhook.url, env.CRTRAIL_CLUSTER, {
        ...(env.CRTRAIL_TLS_CERT ? { tls: { certificateAuthority: serverCertificateAuthority(env.CRTRAIL_TLS_CERT, env.CRTRAIL_TLS_CLIENT_CA) } } : {}),
        clientCertificate: Boolean(env.CRTRAIL_TLS_CLIENT_CA),
        bearerToken: Boolean(auth?.tokens),
      }),
    );
    lines.push(
      `webhook      ${webhook.url}/audit${auth?.tokens || auth?.tls?.clientCa ? '' : '/<cluster>'}   (POST audit.k8s.io/v1 EventList)`,
      `kubeconfig   ${kubeconfig}   (kube-apiserver --audit-webhook-config-file)`,
      `metrics      ${webhook.url}/metrics`,
    );
  }
  for (const w of workers) if (w.metricsUrl) lines.push(`worker       ${w.metricsUrl}`);
  if (workers.length > 0) {
    lines.push(`records      ${env.CRTRAIL_ES_URL}/${indexNames(env.CRTRAIL_INDEX_PREFIX).alias}/_search`);
  }
  // The replay hint carries what this webhook demands, so it works as printed (credentials as placeholders).
  const replayFlags = [
    webhook && webhook.url !== 'http://127.0.0.1:8080' ? `--url ${webhook.url}` : '',
    env.CRTRAIL_TLS_CERT ? `--ca ${serverCertificateAuthority(env.CRTRAIL_TLS_CERT, env.CRTRAIL_TLS_CLIENT_CA) ?? '<CA file>'}` : '',
    env.CRTRAIL_TLS_CLIENT_CA ? '--cert <client.crt> --key <client.key>' : '',
    auth?.tokens ? '--token <token>' : '',
  ].filter(Boolean);
  lines.push(
    `try          npx crtrail replay ../shared/fixtures/audit/public/*.ndjson --cluster demo${replayFlags.length ? ` ${replayFlags.join(' ')}` : ''}`,
    'Ctrl-C stops everything crtrail started.',
    '',
  );
  process.stderr.write(lines.join('\n') + '\n');
}
