import { z } from 'zod';
import { CLUSTER_NAME, CLUSTER_NAME_RULE } from './cluster-name.js';

const port = z.coerce.number().int().min(0).max(65535);
const url = z.string().url();
const optionalPath = z.string().min(1).optional();

/** One node of a Redis Sentinel or Cluster list: `host:port`, an IPv6 host in brackets (`[::1]:6379`). */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * Parses `host:port,host:port,…` (CRTRAIL_REDIS_SENTINELS, CRTRAIL_REDIS_CLUSTER_NODES). Throws an
 * Error saying which entry is wrong; blanks around commas are allowed, empty entries are not.
 */
export function parseHostPorts(list: string): HostPort[] {
  const entries = list.split(',').map((e) => e.trim());
  return entries.map((entry) => {
    const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(entry);
    const port = m ? Number(m[2]) : NaN;
    if (!m || port < 1 || port > 65535)
      throw new Error(`${JSON.stringify(entry)} is not host:port (a comma-separated list of host:port)`);
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
  });
}

/** The nodes of CRTRAIL_ES_URL: one URL, or several separated by commas (the nodes of one cluster). */
export function esNodeUrls(list: string): string[] {
  return list.split(',').map((e) => e.trim());
}

const hostPortList = z.string().superRefine((value, ctx) => {
  try {
    parseHostPorts(value);
  } catch (err) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
  }
});

const redisUrl = url.refine((u) => /^rediss?:\/\//i.test(u), 'a redis:// or rediss:// (TLS) URL');

// Each node of an Elasticsearch cluster, in any order: the client spreads requests over them and
// retries a failed one on the next (a dead node is left out and probed again later).
const esUrlList = z.string().superRefine((value, ctx) => {
  for (const node of esNodeUrls(value)) {
    if (!/^https?:\/\/[^,\s]+$/i.test(node) || !URL.canParse(node)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `${JSON.stringify(node)} is not an http(s) URL (a comma-separated list of Elasticsearch node URLs)`,
      });
    }
  }
});

/** Every CRTRAIL_* environment variable, with the defaults of the contract. */
export const envSchema = z
  .object({
    // In Sentinel and Cluster mode the URL still gives the scheme (rediss: TLS), the credentials and
    // (Sentinel only) the database; its host is not used.
    CRTRAIL_REDIS_URL: redisUrl.default('redis://127.0.0.1:6379'),
    // Credentials out of the URL, e.g. from a Kubernetes Secret; they win over the URL's.
    CRTRAIL_REDIS_USERNAME: z.string().optional(),
    CRTRAIL_REDIS_PASSWORD: z.string().optional(),
    // PEM bundle of the CA that signed the Redis servers' certificates (with a rediss:// URL).
    CRTRAIL_REDIS_CA: optionalPath,
    CRTRAIL_REDIS_SENTINELS: hostPortList.optional(),
    CRTRAIL_REDIS_SENTINEL_NAME: z.string().min(1).optional(),
    // The sentinels' own `requirepass`, when they have one (the master's is CRTRAIL_REDIS_PASSWORD).
    CRTRAIL_REDIS_SENTINEL_PASSWORD: z.string().optional(),
    CRTRAIL_REDIS_CLUSTER_NODES: hostPortList.optional(),
    CRTRAIL_ES_URL: esUrlList.default('http://127.0.0.1:9200'),
    CRTRAIL_ES_USERNAME: z.string().optional(),
    CRTRAIL_ES_PASSWORD: z.string().optional(),
    CRTRAIL_ES_API_KEY: z.string().optional(),
    CRTRAIL_ES_CA: optionalPath,
    CRTRAIL_HOST: z.string().min(1).default('127.0.0.1'),
    CRTRAIL_PORT: port.default(8080),
    CRTRAIL_WORKER_PORT: port.default(9464),
    CRTRAIL_TLS_CERT: optionalPath,
    CRTRAIL_TLS_KEY: optionalPath,
    CRTRAIL_TLS_CLIENT_CA: optionalPath,
    CRTRAIL_AUTH_TOKENS_FILE: optionalPath,
    // Provider intakes (EKS via Firehose, GKE via Pub/Sub push): a route exists only when its
    // credentials are configured; the files hold `<secret> <cluster>` lines like the tokens file, so
    // a key is rotated by adding the new line, switching the provider over, and removing the old one.
    // Cross-checks (audience and service account together) are made where the intake auth is loaded.
    CRTRAIL_FIREHOSE_ACCESS_KEYS_FILE: optionalPath,
    CRTRAIL_PUBSUB_TOKENS_FILE: optionalPath,
    CRTRAIL_PUBSUB_AUDIENCE: z.string().min(1).optional(),
    CRTRAIL_PUBSUB_SERVICE_ACCOUNT: z
      .string()
      .email("an email address (the push subscription's service account)")
      .optional(),
    CRTRAIL_PUBSUB_JWKS_URL: url.optional(),
    CRTRAIL_CLUSTER: z.string().regex(CLUSTER_NAME, `a cluster name: ${CLUSTER_NAME_RULE}`).default('default'),
    CRTRAIL_INDEX_PREFIX: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,100}$/, 'lowercase letters, digits, . _ - (an Elasticsearch index name prefix)')
      .default('crtrail'),
    CRTRAIL_CONFIG: optionalPath,
    CRTRAIL_SIGNING_KEY: optionalPath,
    CRTRAIL_REDACTION_SALT: z.string().min(16, 'at least 16 characters').optional(),
    CRTRAIL_BODY_LIMIT: z.coerce
      .number()
      .int()
      .positive()
      .default(32 * 1024 * 1024),
    CRTRAIL_QUEUE_MAX_WAITING: z.coerce.number().int().min(0).default(10_000),
    CRTRAIL_MAX_CONNECTIONS: z.coerce.number().int().min(0).default(0),
    // After writing a batch the webhook runs `WAIT <n>`: the 200 then also means n replicas have it
    // (fewer within 1 s → 503, the apiserver retries). 0: ack once the primary has it.
    CRTRAIL_REDIS_WAIT_REPLICAS: z.coerce.number().int().min(0).max(100).default(0),
    // Bounds of the state store (README "State store size"): an object's history not written for this
    // many days expires from Redis, its next write continues from its state in Elasticsearch (0: kept).
    CRTRAIL_STATE_TTL_DAYS: z.coerce.number().min(0).max(36_500).default(0),
    // A deleted object's history expires this many days after its delete (0: kept like any other).
    CRTRAIL_STATE_DELETED_TTL_DAYS: z.coerce.number().min(0).max(36_500).default(0),
    CRTRAIL_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    // Jobs a worker holds at once. It processes them as at most WORKER_SIZING.unitsInflight units of
    // joined jobs, so more held jobs mean bigger units (fewer round trips per record), not more heap
    // in processing: see workerHeapNeedMb for the sizing rule and bench/ANALYSIS.md for the measures.
    CRTRAIL_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(10),
    // How long a crashed worker's job stays locked before another worker retries it (BullMQ
    // lockDuration, also the stalled-check interval). A live worker renews its locks every half of it,
    // which it can as no job holds the event loop for more than about a second (chunks + yields).
    CRTRAIL_WORKER_LOCK_MS: z.coerce.number().int().min(1000).max(600_000).default(30_000),
    // A worker-only process lowers its CPU priority by this much (0–19): on a shared host the
    // webhook's acks, which the apiserver waits for, come before indexing, which may lag and catch up.
    CRTRAIL_WORKER_NICE: z.coerce.number().int().min(0).max(19).default(10),
    // V8 old-space limit of the worker processes `crtrail up` starts (MB; 0: Node's default), from
    // the sizing rule (workerHeapNeedMb(10) = 282). The steady live heap is ~50 MB, but a burst of big
    // jobs needs the room; a lower limit keeps RSS lower (V8 grows the heap eagerly up to it) only as
    // long as the rule holds — raise it with the concurrency.
    CRTRAIL_WORKER_HEAP_MB: z.coerce.number().int().min(0).max(65536).default(288),
    CRTRAIL_CACHE_DIR: optionalPath,
    // The webhook's address as the apiserver reaches it (a load balancer, a DNS name): written into the
    // kubeconfig instead of the address the webhook listens on.
    CRTRAIL_PUBLIC_URL: url.optional(),
    // `crtrail kibana setup`: where to import the saved objects, and as whom (basic auth or an API key).
    // Alerts link to the record and the object's timeline in Discover under CRTRAIL_KIBANA_URL too.
    CRTRAIL_KIBANA_URL: url.optional(),
    CRTRAIL_KIBANA_USERNAME: z.string().optional(),
    CRTRAIL_KIBANA_PASSWORD: z.string().optional(),
    CRTRAIL_KIBANA_API_KEY: z.string().optional(),
  })
  .refine((e) => (e.CRTRAIL_KIBANA_USERNAME === undefined) === (e.CRTRAIL_KIBANA_PASSWORD === undefined), {
    message: 'CRTRAIL_KIBANA_USERNAME and CRTRAIL_KIBANA_PASSWORD must be set together',
    path: ['CRTRAIL_KIBANA_USERNAME'],
  })
  .refine((e) => Boolean(e.CRTRAIL_TLS_CERT) === Boolean(e.CRTRAIL_TLS_KEY), {
    message: 'CRTRAIL_TLS_CERT and CRTRAIL_TLS_KEY must be set together',
    path: ['CRTRAIL_TLS_CERT'],
  })
  .refine((e) => !e.CRTRAIL_REDIS_SENTINELS || e.CRTRAIL_REDIS_SENTINEL_NAME, {
    message: 'Sentinel mode needs the name of the master set too (CRTRAIL_REDIS_SENTINEL_NAME)',
    path: ['CRTRAIL_REDIS_SENTINELS'],
  })
  .refine((e) => !e.CRTRAIL_REDIS_SENTINEL_NAME || e.CRTRAIL_REDIS_SENTINELS, {
    message: 'a master name without sentinels: set CRTRAIL_REDIS_SENTINELS=host:port,…',
    path: ['CRTRAIL_REDIS_SENTINEL_NAME'],
  })
  .refine((e) => !(e.CRTRAIL_REDIS_SENTINELS && e.CRTRAIL_REDIS_CLUSTER_NODES), {
    message:
      'CRTRAIL_REDIS_CLUSTER_NODES and CRTRAIL_REDIS_SENTINELS exclude each other (a Redis Cluster has no sentinels)',
    path: ['CRTRAIL_REDIS_CLUSTER_NODES'],
  })
  .refine((e) => !e.CRTRAIL_REDIS_CA || /^rediss:/i.test(e.CRTRAIL_REDIS_URL), {
    // A CA with a plain redis:// URL would be ignored: the connection would go unencrypted.
    message: 'a CA for Redis needs TLS: set CRTRAIL_REDIS_URL=rediss://…',
    path: ['CRTRAIL_REDIS_CA'],
  })
  .refine((e) => !e.CRTRAIL_REDIS_CLUSTER_NODES || !/^rediss?:\/\/[^/]*\/[1-9]/i.test(e.CRTRAIL_REDIS_URL), {
    message: 'a Redis Cluster has database 0 only: drop the /<db> of CRTRAIL_REDIS_URL',
    path: ['CRTRAIL_REDIS_URL'],
  });

export type Env = Readonly<z.infer<typeof envSchema>>;

export class ConfigError extends Error {
  readonly code = 'CRTRAIL_ERR_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Reads and validates the CRTRAIL_* variables once. A bad value throws a {@link ConfigError} naming
 * the variable, so a service fails at start rather than at the first request.
 */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const picked: Record<string, string> = {};
  for (const [key, value] of Object.entries(source)) {
    // An empty variable means "unset": `CRTRAIL_TLS_CERT= npm start` should not fail on ''.
    if (key.startsWith('CRTRAIL_') && value !== undefined && value !== '') picked[key] = value;
  }
  const result = envSchema.safeParse(picked);
  if (!result.success) {
    const lines = result.error.issues.map((i) => {
      const key = i.path.join('.');
      return `${key}=${JSON.stringify(picked[key] ?? '')}: ${i.message}`;
    });
    throw new ConfigError(`invalid environment:\n  ${lines.join('\n  ')}`);
  }
  return Object.freeze(result.data);
}

/**
 * The worker's memory sizing rule (README "Worker"). A unit of joined jobs holds at most one full job
 * of JSON (the webhook's 2 MB bound) and peaks at ≤ 26× it in heap (2 MB of 25 KB creates, the worst
 * case measured by bench/worker-memory.ts; ~10× for updates); at most `unitsInflight` units run at
 * once. The other held jobs are only parsed JSON (1.1–1.4× their text, measured on the bench's
 * batches and the big-batch case). The base (code, clients, the 16 MB history cache) is ~60 MB, and
 * the heap limit leaves ×1.5 of room for the garbage collector.
 */
export const WORKER_SIZING = Object.freeze({
  jobMb: 2,
  unitsInflight: 2,
  expansion: 26,
  heldExpansion: 1.5,
  baseMb: 60,
  gcHeadroom: 1.5,
});

/** Heap (MB) a worker holding `concurrency` jobs needs by {@link WORKER_SIZING}: 4 → 255, 8 → 273, 10 → 282, 64 → 525. */
export function workerHeapNeedMb(concurrency: number): number {
  const s = WORKER_SIZING;
  const units = Math.min(concurrency, s.unitsInflight);
  const held = Math.max(0, concurrency - units);
  return Math.ceil((units * s.jobMb * s.expansion + held * s.jobMb * s.heldExpansion + s.baseMb) * s.gcHeadroom);
}

/** Node options of a worker process (its heap limit), for whoever starts one. */
export function workerExecArgv(env: Pick<Env, 'CRTRAIL_WORKER_HEAP_MB'>): string[] {
  return env.CRTRAIL_WORKER_HEAP_MB > 0 ? [`--max-old-space-size=${env.CRTRAIL_WORKER_HEAP_MB}`] : [];
}
