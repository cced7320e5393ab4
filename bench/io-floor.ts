// The worker's floor alone (bench/lib/floor.ts; `npm run bench` measures it too):
// node --import tsx bench/io-floor.ts [batches]
import { testRedis, testEs, cleanupPrefix, uniquePrefix } from '@crtrail/testkit';
import { floorSection, workerFloor } from './lib/floor.js';
import { generateWorkload } from './workload.js';

const prefix = uniquePrefix('floor');
const es = testEs();
const redis = testRedis();
try {
  const f = await workerFloor(es, redis, prefix, generateWorkload(Number(process.argv[2] || 300)));
  process.stdout.write(`${floorSection(f).join('\n')}\n`);
} finally {
  await cleanupPrefix(prefix, es, redis);
  await es.close();
  redis.disconnect();
}
