import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ChainVerifier, SeqTally, manifestPathOf, seqRangeText, type Integrity } from '../src/index.js';

const link = (seq: number): Integrity => ({ seq, hash: `h${seq}`, prev_hash: `h${seq - 1}` });

test('manifestPathOf: the manifest sits next to the export it describes', () => {
  assert.equal(manifestPathOf('prod.ndjson'), 'prod.ndjson.manifest.json');
  assert.equal(manifestPathOf('/tmp/out/a.csv'), '/tmp/out/a.csv.manifest.json');
});

test('seqRangeText names one seq or a range', () => {
  assert.equal(seqRangeText([7, 7]), 'seq 7');
  assert.equal(seqRangeText([7, 9]), 'seqs 7–9');
});

test('SeqTally: count, first and last links, and the seqs left out between them, per cluster', () => {
  const tally = new SeqTally();
  for (const seq of [3, 4, 7, 8, 12]) tally.add('prod', link(seq));
  tally.add('prod', undefined); // counted, links nothing
  tally.add('dev', link(1));
  tally.add('dev', link(2));
  tally.add('unchained', undefined);
  const clusters = tally.clusters();
  assert.deepEqual(Object.keys(clusters), ['dev', 'prod'], 'sorted by name; a cluster without any link is left out');
  assert.deepEqual(clusters.prod, {
    count: 6,
    first: link(3),
    last: link(12),
    gaps: [
      [5, 6],
      [9, 11],
    ],
  });
  assert.deepEqual(clusters.dev, { count: 2, first: link(1), last: link(2), gaps: [] });
});

test('SeqTally agrees with ChainVerifier on the gaps of any ascending walk', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 60 }), (seqs) => {
      const sorted = [...seqs].sort((a, b) => a - b);
      const tally = new SeqTally();
      const verifier = new ChainVerifier({ linksOnly: true });
      for (const seq of sorted) {
        tally.add('c', link(seq));
        verifier.push(
          {
            orchestrator: { cluster: { name: 'c' } },
            crtrail: { integrity: { seq, hash: 'a'.repeat(64), prev_hash: 'b'.repeat(64) } },
          },
          `seq ${seq}`,
        );
      }
      const counted = tally.clusters().c!;
      assert.equal(counted.count, sorted.length);
      assert.deepEqual(counted.gaps, verifier.summary().get('c')!.gaps);
    }),
  );
});
