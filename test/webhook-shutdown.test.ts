import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { createBatchQueue } from '@crtrail/queue';
import { deleteRedisPrefix, eventually, testRedis, testRedisUrl, uniquePrefix } from '@crtrail/testkit';
import { spawnCli } from './helpers/cli.js';
import { eventList } from './helpers/events.js';

const event = (id: string) => ({
  level: 'RequestResponse',
  auditID: id,
  stage: 'ResponseComplete',
  requestURI: '/apis/example.com/v1/namespaces/x/widgets/w',
  verb: 'update',
  user: { username: 'alice' },
  objectRef: { apiGroup: 'example.com', resource: 'widgets', namespace: 'x', name: 'w' },
  // Big enough that a batch takes a moment to send, parse and write: requests overlap the SIGTERM.
  requestObject: { spec: { blob: 'x'.repeat(20_000) } },
});
const batch = (name: string): string => eventList(Array.from({ length: 20 }, (_, i) => event(`${name}-${i}`)));

/** Resolves true once a new TCP connection to the port is refused (the listener is closed). */
function refused(port: number): Promise<boolean> {
  return new Promise((resolveRefused) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolveRefused(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolveRefused(err.code === 'ECONNREFUSED'));
  });
}

test('SIGTERM to `crtrail up --webhook-only`: no new connections, in-flight batches finish (200 = in Redis), exit 0', async () => {
  const prefix = uniquePrefix('webhook-shutdown');
  const up = spawnCli(['up', '--webhook-only'], {
    CRTRAIL_REDIS_URL: testRedisUrl(),
    CRTRAIL_INDEX_PREFIX: prefix,
    CRTRAIL_PORT: '0',
    CRTRAIL_LOG_LEVEL: 'warn',
  });
  const redis = testRedis();
  const queue = createBatchQueue(prefix, redis);
  try {
    const url = await eventually(
      async () => /webhook\s+(http:\/\/127\.0\.0\.1:(\d+))\/audit/.exec(up.output()) ?? undefined,
      30_000,
      'the webhook URL',
    );
    const base = url[1]!;
    const port = Number(url[2]);

    // A request in flight for sure: headers and half of its body are sent before the SIGTERM.
    const slowBody = Buffer.from(batch('slow'));
    let slowRest: () => void = () => {};
    const slow = new Promise<number>((resolveSlow, reject) => {
      const req = httpRequest(
        `${base}/audit/shutdown`,
        {
          method: 'POST',
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': String(slowBody.length) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolveSlow(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.write(slowBody.subarray(0, slowBody.length / 2));
      slowRest = () => req.end(slowBody.subarray(slowBody.length / 2));
    });
    await sleep(300);

    // A burst of batches, with the SIGTERM landing in the middle of it.
    const outcomes = Array.from({ length: 40 }, (_, i) =>
      fetch(`${base}/audit/shutdown`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: batch(`b${i}`),
      }).then(
        async (res) => ({ name: `b${i}`, status: res.status, body: await res.text() }),
        (err: Error) => ({ name: `b${i}`, status: 0, body: err.message }),
      ),
    );
    await sleep(20);
    up.child.kill('SIGTERM');

    // The listener closes while the slow request still holds the process open.
    await eventually(async () => ((await refused(port)) ? true : undefined), 10_000, 'new connections to be refused');
    assert.equal(up.child.exitCode, null, 'still running: a request is in flight');
    slowRest();
    assert.equal(await slow, 200, 'a request in flight at SIGTERM is finished and acked');

    const results = await Promise.all(outcomes);
    const code = await up.exited;
    assert.equal(code, 0, up.output());
    assert.match(up.output(), /SIGTERM: draining and stopping/);

    for (const r of results) assert.ok([0, 200, 503].includes(r.status), `${r.name}: ${r.status} ${r.body}`);
    const acked = ['slow', ...results.filter((r) => r.status === 200).map((r) => r.name)];
    assert.ok(acked.length > 1, 'some of the burst was acked before the listener closed');

    // Every 200 is a job in Redis (at-least-once: an unacked batch may be there too, the apiserver re-sends it).
    const jobs = await queue.getJobs(['waiting', 'prioritized', 'delayed']);
    const stored = new Set(jobs.map((j) => j.data.events[0]!.auditID.replace(/-0$/, '')));
    assert.equal(await queue.count(), jobs.length);
    for (const name of acked) assert.ok(stored.has(name), `acked batch ${name} is in Redis`);
    assert.ok(jobs.every((j) => j.data.cluster === 'shutdown' && j.data.events.length === 20));
  } finally {
    if (up.child.exitCode === null) up.child.kill('SIGKILL');
    await queue.close();
    await deleteRedisPrefix(redis, prefix);
    redis.disconnect();
  }
});
