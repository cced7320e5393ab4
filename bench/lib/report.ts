/** latest.md of `npm run bench`: issue 22's target table (the ratios first), then what explains it. */
import type { BigBatchResult } from './big-batches.js';
import { APISERVER_BURST, APISERVER_QPS } from './senders.js';
import { round } from './stats.js';

export interface Target {
  figure: string;
  measured: number;
  op: '≥' | '≤' | '';
  /** null: shown for reading the others, not a target. */
  target: number | null;
  met: boolean | null;
}

export const target = (figure: string, measured: number, op: '≥' | '≤', t: number): Target => ({
  figure,
  measured,
  op,
  target: t,
  met: op === '≥' ? measured >= t : measured <= t,
});
export const figure = (name: string, measured: number): Target => ({
  figure: name,
  measured,
  op: '',
  target: null,
  met: null,
});

const row = (t: Target) =>
  t.target === null
    ? `| ${t.figure} | ${t.measured} | — | — |`
    : `| ${t.figure} | ${t.measured} | ${t.op} ${t.target} | ${t.met ? 'yes' : '**no**'} |`;

export const targetTable = (targets: Target[]): string[] => [
  '| figure | measured | target | met |',
  '|---|---|---|---|',
  ...targets.map(row),
];

export interface BigBatches {
  batches: BigBatchResult[];
  rss_mb: { webhook: number; worker: number };
  body_limit: number;
  body_limit_raised: boolean;
}

export function bigBatchSection(big: BigBatches): string[] {
  const mb = big.batches.map((b) => b.mb);
  return [
    `Big batches: ${big.batches.length} EventLists of ${Math.min(...mb)}–${Math.max(...mb)} MiB POSTed at once (one request each) to a running pipeline (webhook + 1 worker, fresh processes): custom-resource writes at RequestResponse level of 30–70 KB objects (status updates with the whole object in both bodies, spec patches) and a fifth of the events dropped by the filter. Times from the send; body limit ${big.body_limit} bytes (${big.body_limit_raised ? 'raised for this case above CRTRAIL_BODY_LIMIT' : 'CRTRAIL_BODY_LIMIT as configured'}). Peak RSS: webhook ${big.rss_mb.webhook} MB, worker ${big.rss_mb.worker} MB.`,
    '',
    '| batch | MiB | events | custom-resource writes | ack ms | all searchable ms |',
    '|---|---|---|---|---|---|',
    ...big.batches.map(
      (b) => `| ${b.cluster} | ${b.mb} | ${b.events} | ${b.cr_writes} | ${b.ack_ms} | ${b.searchable_ms} |`,
    ),
  ];
}

/** The machine a run was measured on, as every report states it. */
export interface Machine {
  cores: number;
  memory_gb: number;
  node: string;
}

/** A report's second line: when, on which commit and on what the figures were measured. */
export const provenance = (at: string, commit: string, machine: Machine): string =>
  `${at} · commit ${commit.slice(0, 12)} · ${machine.cores} cores, ${machine.memory_gb} GiB, Node ${machine.node} · Redis and Elasticsearch on the same machine`;

interface Summary {
  at: string;
  commit: string;
  machine: Machine;
  batches: number;
  events: number;
  crWrites: number;
  senders: number;
  /** Batches each measured webhook and pipeline took first, unmeasured. */
  warmupBatches: number;
  rated: {
    offered_events_per_s: number;
    acked_events_per_s: number;
    seconds: number;
    tokens_dropped: number;
    webhook_alone_acked_events_per_s: number;
  };
  changesPerS: number;
  cpu: { saturated: Record<string, number>; rated: Record<string, number> };
  ceilings: { parse_redis_events_per_s: number; es_bulk_docs_per_s: number };
}

/** The page, without bench/ANALYSIS.md (appended by the caller). */
export function mainReport(s: Summary, targets: Target[], big: BigBatches): string[] {
  const sum = (c: Record<string, number>) =>
    round(
      Object.values(c).reduce((a, b) => a + b, 0),
      3,
    );
  const n = s.senders;
  return [
    '# crtrail benchmark',
    '',
    provenance(s.at, s.commit, s.machine),
    '',
    `Workload: ${s.batches} EventList batches of 400 events (${s.events} events, ${s.crWrites} custom-resource writes at RequestResponse level), ${n} senders on loopback (two load models, below the table), then the big-batch case (below).`,
    '',
    "Issue 22's targets first (the ratios to the ceilings measured in the same run, then the absolute ones), then figures shown without a target. Peak RSS is the largest VmHWM of that process over every case of the run, the big batches included.",
    '',
    ...targetTable(targets),
    '',
    ...bigBatchSection(big),
    '',
    `Two load models. Capacities (events/s, changes/s, the ratios) are measured at saturation: ${n} closed-loop senders, each sending its next batch as soon as the previous is acked, so ${n} requests are always in flight and ack latency and lag there are ≈ ${n} × service time and a growing backlog, a property of the load generator. Ack latency and lag are measured at the rate ${n} kube-apiservers at full throttle offer with the default batch flags (\`--audit-webhook-batch-max-size=400\`, \`--audit-webhook-batch-throttle-qps=10\`, \`--audit-webhook-batch-throttle-burst=15\`): open loop, each sender a token bucket of ${APISERVER_QPS} batches/s with burst ${APISERVER_BURST} and one request in flight, ${s.rated.offered_events_per_s} events/s offered (${s.rated.acked_events_per_s} acked over ${s.rated.seconds} s${s.rated.tokens_dropped ? `, ${s.rated.tokens_dropped} tokens dropped: senders fell more than a burst behind` : ''}). There each latency is timed from the batch's scheduled send time (its token), not from when it was sent, so a slow ack that delays later batches is counted in them too. Webhook figures come from the webhook alone (its batches queue up in Redis, as in a deployment where it has its own cores: ${s.rated.webhook_alone_acked_events_per_s} events/s acked at the apiserver rate); the pipeline figures, and the ack p99 marked so, from the webhook and a worker sharing this machine's ${s.machine.cores} cores with Elasticsearch, Redis and the load generator. Every measured webhook and pipeline is warmed first with ${s.warmupBatches} of the same batches sent to other clusters (\`warmup-<cluster>\`), waited for until searchable and left out of every figure: what is measured is the steady state a deployment runs in, not a fresh process's first second, while V8 (and, on a freshly started node, Elasticsearch's JIT) compiles the hot code.`,
    '',
    `CPU time per indexed change, by process (from the first request until every record is searchable; ${s.machine.cores} cores give ${round((s.machine.cores * 1000) / Math.max(1, s.changesPerS), 2)} ms of CPU per change at the saturated rate):`,
    '',
    '| process | ms/change at saturation | ms/change at the apiserver rate |',
    '|---|---|---|',
    ...Object.keys(s.cpu.saturated).map((k) => `| ${k} | ${s.cpu.saturated[k]} | ${s.cpu.rated[k] ?? '—'} |`),
    `| all | ${sum(s.cpu.saturated)} | ${sum(s.cpu.rated)} |`,
    '',
    `Ceilings in the same run: JSON.parse + Redis RPUSH of the same bodies ${s.ceilings.parse_redis_events_per_s} events/s; raw \`_bulk\` of the same final documents ${s.ceilings.es_bulk_docs_per_s} docs/s.`,
    '',
  ];
}
