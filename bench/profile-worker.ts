// Profiles one worker process draining a pre-filled queue of the bench workload:
// node --import tsx bench/profile-worker.ts [batches]  → a .cpuprofile in .cache/profiles/ and a top-20 summary.
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadEnv, workerExecArgv } from '@crtrail/config';
import { repoRoot } from '@crtrail/stack';
import { startWebhook } from '@crtrail/webhook';
import { testEs, testRedis, cleanupPrefix } from '@crtrail/testkit';
import { cpuMs, peakRssMb, threadCpuMs } from './lib/processes.js';
import { generateWorkload } from './workload.js';

/** The parts of a V8 `.cpuprofile` (Chrome DevTools Profile) this summary reads. */
interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

const batches = Number(process.argv[2] || 100);
const prefix = `prof-${Date.now().toString(36)}`;
const dir = join(repoRoot(), '.cache', 'profiles');
mkdirSync(dir, { recursive: true });
const w = generateWorkload(batches);
const hook = await startWebhook(loadEnv({ CRTRAIL_INDEX_PREFIX: prefix, CRTRAIL_PORT: '0' }), false);
for (const b of w.bodies)
  await fetch(`${hook.url}/audit/${b.cluster}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: b.body,
  });
const t0 = performance.now();
const child = spawn(
  process.execPath,
  [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    ...workerExecArgv(loadEnv()),
    join(repoRoot(), 'services/cli/bin/crtrail.js'),
    'up',
    '--worker-only',
  ],
  {
    env: {
      ...process.env,
      CRTRAIL_INDEX_PREFIX: prefix,
      CRTRAIL_WORKER_PORT: '0',
      CRTRAIL_LOG_LEVEL: 'warn',
      NODE_OPTIONS: process.env.WORKER_NODE_OPTIONS ?? '',
    },
    stdio: 'inherit',
  },
);
for (;;) {
  const c = await hook.queue.getJobCounts('waiting', 'active', 'delayed');
  if (Object.values(c).every((x) => x === 0)) break;
  await sleep(100);
}
const s = (performance.now() - t0) / 1000;
const cpu = cpuMs(child.pid!);
const threads = threadCpuMs(child.pid!);
console.log(
  `worker process CPU ${Math.round(cpu)} ms = ${(cpu / w.crWrites).toFixed(3)} ms per change (all its threads, start-up included): main thread ${(threads.main / w.crWrites).toFixed(3)}, other threads ${(threads.others / w.crWrites).toFixed(3)} (the profiler's sampling thread among them)`,
);
console.log(
  `${w.crWrites} changes in ${s.toFixed(1)} s = ${Math.round(w.crWrites / s)} changes/s (incl. start-up), peak RSS ${Math.round(peakRssMb(child.pid!))} MB`,
);
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
await hook.close();
const es = testEs();
const redis = testRedis();
await cleanupPrefix(prefix, es, redis);
await es.close();
redis.disconnect();
const file = readdirSync(dir)
  .filter((f) => f.endsWith('.cpuprofile'))
  .sort()
  .at(-1)!;
const prof = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
const self = new Map<string, number>();
const dt = prof.timeDeltas;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
prof.samples.forEach((id: number, i: number) => {
  const n = byId.get(id)!;
  const key = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber}`;
  self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0));
});
const total = [...self.values()].reduce((a, b) => a + b, 0);
for (const [k, v] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25))
  console.log(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
