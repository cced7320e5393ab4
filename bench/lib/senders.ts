/**
 * The load generators: apiservers POSTing EventList batches, either closed loop (saturation, for
 * capacity) or open loop at the rate real apiservers offer (for ack latency and lag).
 */
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { prng } from '../../test/fixtures/lifecycle.js';
import type { Workload } from '../workload.js';

/**
 * kube-apiserver's audit webhook batch backend, defaults: batches of at most 400 events
 * (--audit-webhook-batch-max-size=400) sent through a token bucket of
 * --audit-webhook-batch-throttle-qps=10 batches/s and --audit-webhook-batch-throttle-burst=15.
 * N apiservers at full throttle thus offer N × 10 × 400 events/s (5 → 20,000).
 */
export const APISERVER_QPS = 10;
export const APISERVER_BURST = 15;

type Body = Workload['bodies'][number];

/** What a sender measured: per-request ack latencies and ack times. */
export interface Sent {
  latencies: number[];
  acks: Array<{ at: number; cr: number; index: number }>;
  acked: number;
  seconds: number;
  t0: number;
}
export type Sender<S extends Sent = Sent> = (url: string) => Promise<S>;

/**
 * Kept-alive connections, as an apiserver's webhook client keeps its own. node:http rather than
 * fetch: fetch spent ~3.8 ms of CPU per 0.5 MB POST on the load generator's one event loop, so
 * senders whose batches fell due together queued behind each other there, and that wait was
 * counted as the webhook's ack latency (each real apiserver is its own process).
 */
const agent = new Agent({ keepAlive: true });

/** POSTs one EventList as the apiserver does; resolves at the ack (rejects unless it is a 200). */
export function post(url: string, cluster: string, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/audit/${cluster}`,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.once('error', reject);
        res.once('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`webhook answered ${res.statusCode}`)),
        );
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

/**
 * One apiserver's batch throttle: a token every `period` ms, at most `burst` kept (more are dropped,
 * and counted). A token carries the time it arrived, which is when the batch that takes it was due.
 */
class TokenBucket {
  private readonly held: number[] = [];
  private next: number;
  dropped = 0;
  constructor(
    private readonly period: number,
    private readonly burst: number,
    firstAt: number,
  ) {
    this.next = firstAt;
  }

  /** Waits (on a timer) for a token; returns when it arrived: the batch's scheduled start. */
  async take(): Promise<number> {
    for (;;) {
      const now = performance.now();
      for (; this.next <= now; this.next += this.period) {
        if (this.held.length < this.burst) this.held.push(this.next);
        else this.dropped++;
      }
      const due = this.held.shift();
      if (due !== undefined) return due;
      await sleep(this.next - now);
    }
  }
}

/** The senders of one workload, `count` apiservers sharing its bodies in order. */
export function senders(workload: Workload, count: number) {
  // Encoded once, as an apiserver serializes a batch once: the load generator's CPU is the webhook's competitor.
  const encoded = new Map(workload.bodies.map((b) => [b, Buffer.from(b.body)]));
  const postBody = (url: string, b: Body) => post(url, b.cluster, encoded.get(b)!);

  /** Runs `fn` over every body (of the workload, or `bodies`) from `count` concurrent loops (like that many apiservers). */
  async function eachBody(
    fn: (b: Body, index: number) => Promise<void>,
    bodies: readonly Body[] = workload.bodies,
  ): Promise<void> {
    let next = 0;
    await Promise.all(
      Array.from({ length: count }, async () => {
        for (let i = next++; i < bodies.length; i = next++) await fn(bodies[i]!, i);
      }),
    );
  }

  /**
   * Sends every body from `count` closed loops, each next request as soon as the previous is acked:
   * saturation, for capacity. Its latencies are ≈ count × service time (Little's law), not the
   * service's answer to a given load.
   */
  async function send(url: string): Promise<Sent> {
    const latencies: number[] = [];
    const acks: Sent['acks'] = [];
    let acked = 0;
    const t0 = performance.now();
    await eachBody(async (b, i) => {
      const start = performance.now();
      await postBody(url, b);
      const end = performance.now();
      latencies.push(end - start);
      acks.push({ at: end, cr: b.crWrites, index: i });
      acked += b.events;
    });
    const seconds = (performance.now() - t0) / 1000;
    return { latencies, acks, acked, seconds, t0 };
  }

  /**
   * Sends every body (in order, shared like `eachBody`) at the rate `count` apiservers at full
   * throttle offer, open loop: each sender is one apiserver's batch backend with its own bucket and
   * one request in flight. Buckets start drained (at full throttle each token is spent as it arrives;
   * a full one would add a start-up burst the steady state does not have) at random phases
   * (apiservers are not synchronised; seeded, so runs compare). Latency runs from the token's
   * arrival, not from the send: a slow ack that holds its sender back is charged to every request it
   * delays (no coordinated omission), and the burst lets the sender catch up as the apiserver's
   * limiter would.
   */
  async function sendAtApiserverRate(url: string): Promise<Sent & { tokensDropped: number }> {
    const latencies: number[] = [];
    const acks: Sent['acks'] = [];
    let acked = 0;
    let next = 0;
    const period = 1000 / APISERVER_QPS;
    const phase = prng(20261124);
    const t0 = performance.now();
    const buckets = Array.from(
      { length: count },
      () => new TokenBucket(period, APISERVER_BURST, t0 + phase() * period),
    );
    await Promise.all(
      buckets.map(async (bucket) => {
        while (next < workload.bodies.length) {
          const due = await bucket.take();
          const i = next++;
          const b = workload.bodies[i];
          if (!b) return;
          await postBody(url, b);
          const end = performance.now();
          latencies.push(end - due);
          acks.push({ at: end, cr: b.crWrites, index: i });
          acked += b.events;
        }
      }),
    );
    // Up to the last ack: a sender's wait for a token it then had no body for is not sending time.
    const seconds = (Math.max(...acks.map((a) => a.at)) - t0) / 1000;
    return { latencies, acks, acked, seconds, t0, tokensDropped: buckets.reduce((n, b) => n + b.dropped, 0) };
  }

  /**
   * Warms a freshly started webhook (and the worker and Elasticsearch behind it) before it is
   * measured: the first `batches` bodies from `count` closed loops, each to the cluster
   * `warmup-<its cluster>`, so none of its records, histories or chain links are the measured
   * ones'. Resolves with the custom-resource writes sent (the records the pipeline makes of them).
   */
  async function warmUp(url: string, batches: number): Promise<number> {
    const bodies = workload.bodies.slice(0, batches);
    await eachBody((b) => post(url, `${WARMUP_CLUSTER_PREFIX}${b.cluster}`, encoded.get(b)!), bodies);
    return bodies.reduce((n, b) => n + b.crWrites, 0);
  }

  return { eachBody, send, sendAtApiserverRate, warmUp };
}

/** The clusters {@link senders}' `warmUp` sends to: their records are left out of every figure. */
export const WARMUP_CLUSTER_PREFIX = 'warmup-';
