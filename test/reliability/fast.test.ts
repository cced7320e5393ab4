import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { scenarios } from './scenarios.js';
import { failures } from './report.js';

/**
 * The quick rows of the fault suite (`npm run test:reliability` runs them all and writes the report):
 * real `crtrail up` processes, their own redis-server, the shared Elasticsearch. Each row must lose
 * no acked event, store no duplicate and pass its own checks.
 */
describe('fault suite, fast rows', { concurrency: 1 }, () => {
  for (const s of scenarios.filter((x) => x.fast)) {
    test(`${s.name}: ${s.what}`, async () => {
      const row = { ...(await s.run()), scenario: s.name };
      assert.ok(row.expected > 0, 'the scenario sent custom-resource writes');
      assert.ok(row.acked > 0, `nothing was acked (${row.note})`);
      assert.equal(row.lost, 0, `lost acked events (${row.note})`);
      assert.equal(row.duplicates, 0, 'duplicate records');
      assert.deepEqual(failures(row), [], row.note);
    });
  }
});
