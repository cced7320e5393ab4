import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ChainVerifier,
  GENESIS_HASH,
  checkOps,
  checkSignature,
  generateSigningKeys,
  recordHash,
  sealRecords,
  signManifest,
  type ChainedRecord,
  type Manifest,
} from '../src/index.js';

/**
 * A record as these tests build, seal and tamper with it: the tampering reaches into any field. Loose
 * on purpose until the one record type of issue 18 (`ChangeRecordDoc`) lands and `ChainedRecord`
 * becomes a pick of it; one alias here rather than a cast at every edit.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
type TestRecord = Record<string, any>;

function record(i: number, cluster = 'c1', extra: Record<string, unknown> = {}): TestRecord {
  return {
    '@timestamp': `2026-01-01T00:00:${String(i % 60).padStart(2, '0')}Z`,
    event: { id: `audit-${i}`, action: 'patch', outcome: 'success', ingested: '2026-01-01T00:01:00Z' },
    orchestrator: { cluster: { name: cluster } },
    user: { name: 'alice' },
    kubernetes: {
      audit: {
        verb: 'patch',
        user: { username: 'alice', groups: ['devs'] },
        responseObject: { kind: 'Widget', metadata: { name: `w${i}` }, spec: { replicas: i } },
      },
    },
    crtrail: {
      actor: { kind: 'human', name: 'alice', tool: 'kubectl' },
      change: {
        ops: [{ op: 'replace', path: '/spec/replicas', old: i - 1, new: i }],
        kind: 'spec',
        state_hash: `h${i}`,
        dry_run: false,
      },
      received_at: '2026-01-01T00:00:59Z',
    },
    ...extra,
  };
}

function chain(n: number, cluster = 'c1'): Array<TestRecord> {
  const records = Array.from({ length: n }, (_, i) => record(i + 1, cluster));
  sealRecords({ seq: 0, hash: GENESIS_HASH }, cluster, records);
  return records;
}

function verifyAll(
  records: ChainedRecord[],
  options: ConstructorParameters<typeof ChainVerifier>[0] = { startSeq: 1 },
): ChainVerifier {
  const v = new ChainVerifier(options);
  records.forEach((r, i) => v.push(r, `line ${i + 1}`));
  v.finish();
  return v;
}

test('sealed records link: seq 1.., genesis first, each prev_hash the previous hash', () => {
  const records = chain(4);
  assert.deepEqual(
    records.map((r) => r.crtrail!.integrity!.seq),
    [1, 2, 3, 4],
  );
  assert.equal(records[0]!.crtrail!.integrity!.prev_hash, GENESIS_HASH);
  for (let i = 1; i < 4; i++)
    assert.equal(records[i]!.crtrail!.integrity!.prev_hash, records[i - 1]!.crtrail!.integrity!.hash);
  assert.deepEqual(verifyAll(records).problems, []);
});

test('the hash covers who/what/when but not what repairs and ingestion rewrite', () => {
  const [r] = chain(1);
  const base = recordHash(GENESIS_HASH, r!, 'c1', 1);
  const changed = (mutate: (x: TestRecord) => void) => {
    const copy = structuredClone(r!);
    mutate(copy);
    return recordHash(GENESIS_HASH, copy, 'c1', 1);
  };
  // Chained: a different user, time, object body, actor, top-level ECS copy, state hash.
  assert.notEqual(
    changed((x) => (x.kubernetes.audit.user.username = 'mallory')),
    base,
  );
  assert.notEqual(
    changed((x) => (x['@timestamp'] = '2026-01-02T00:00:00Z')),
    base,
  );
  assert.notEqual(
    changed((x) => (x.kubernetes.audit.responseObject.spec.replicas = 99)),
    base,
  );
  assert.notEqual(
    changed((x) => (x.crtrail.actor.name = 'bob')),
    base,
  );
  assert.notEqual(
    changed((x) => (x.user.name = 'bob')),
    base,
  );
  assert.notEqual(
    changed((x) => (x.crtrail.change.state_hash = 'other')),
    base,
  );
  assert.notEqual(recordHash(GENESIS_HASH, r!, 'c1', 2), base, 'the seq is chained');
  // Not chained: a late event's repair of ops/kind/critical, ingestion times, key order.
  assert.equal(
    changed((x) => (x.crtrail.change.ops = [])),
    base,
  );
  assert.equal(
    changed((x) => (x.crtrail.change.kind = 'mixed')),
    base,
  );
  assert.equal(
    changed((x) => (x.crtrail.change.critical = true)),
    base,
  );
  assert.equal(
    changed((x) => (x.event.ingested = '2030-01-01T00:00:00Z')),
    base,
  );
  assert.equal(
    changed((x) => (x.crtrail.received_at = '2030-01-01T00:00:00Z')),
    base,
  );
  assert.equal(
    changed(
      (x) =>
        (x.kubernetes.audit = {
          responseObject: x.kubernetes.audit.responseObject,
          verb: 'patch',
          user: x.kubernetes.audit.user,
        }),
    ),
    base,
  );
});

test('the verifier names each kind of damage', () => {
  const kinds = (records: ChainedRecord[], options?: ConstructorParameters<typeof ChainVerifier>[0]) =>
    verifyAll(records, options).problems.map((p) => `${p.kind}@${p.seq}`);
  const edited = chain(5);
  edited[2]!.kubernetes.audit.user.username = 'mallory';
  assert.deepEqual(kinds(edited), ['edited@3']);

  const deleted = chain(5);
  deleted.splice(1, 2);
  assert.deepEqual(kinds(deleted), ['missing@2']);

  const firstGone = chain(3).slice(1);
  assert.deepEqual(kinds(firstGone), ['missing@1']);

  const swapped = chain(5);
  [swapped[1], swapped[2]] = [swapped[2]!, swapped[1]!];
  assert.deepEqual(kinds(swapped), ['reordered@2']);

  const twice = chain(3);
  assert.deepEqual(kinds([...twice, twice[2]!]), ['duplicate@3']);

  // Replaced by a record sealed on a forked chain: its own hash is fine, the link is not.
  const original = chain(3);
  const fork = [record(1), record(2), record(3, 'c1', { user: { name: 'forged' } })];
  sealRecords({ seq: 0, hash: '1'.repeat(64) }, 'c1', fork);
  assert.deepEqual(kinds([original[0]!, original[1]!, fork[2]!]), ['broken-link@3']);

  const unchained = chain(2);
  delete unchained[1]!.crtrail.integrity;
  assert.deepEqual(kinds(unchained), ['unchained@undefined']);

  const forgedOps = chain(2);
  forgedOps[1]!.crtrail.change.ops[0].new = 42;
  assert.deepEqual(kinds(forgedOps), ['ops-mismatch@2']);
});

test('gaps a filter explains are not missing records; clusters are chained separately', () => {
  const a = chain(6, 'a');
  const b = chain(2, 'b');
  const exported = [a[0]!, a[3]!, a[4]!, b[0]!, b[1]!];
  const v = verifyAll(exported, { allowedGaps: (c) => (c === 'a' ? [[2, 3]] : undefined) });
  assert.deepEqual(v.problems, []);
  assert.deepEqual(v.summary().get('a')!.gaps, [[2, 3]]);
  assert.equal(v.summary().get('b')!.count, 2);
  const unexplained = verifyAll(exported, { allowedGaps: () => [[2, 2]] });
  assert.deepEqual(
    unexplained.problems.map((p) => p.kind),
    ['missing'],
  );
});

test('property: any single swap, deletion or edit of a sealed chain is detected', () => {
  fc.assert(
    fc.property(fc.integer({ min: 3, max: 30 }), fc.nat(), fc.constantFrom('swap', 'delete', 'edit'), (n, at, how) => {
      const records = chain(n);
      const i = at % (n - 1);
      if (how === 'swap') [records[i], records[i + 1]] = [records[i + 1]!, records[i]!];
      if (how === 'delete') records.splice(i, 1);
      if (how === 'edit') records[i]!.kubernetes.audit.user.groups.push('system:masters');
      return verifyAll(records).problems.length > 0;
    }),
  );
});

test('checkOps: new values must be the chained response body at their path', () => {
  const r = record(3);
  assert.equal(checkOps(r), undefined);
  r.crtrail!.change = { ...r.crtrail!.change, ops: [{ op: 'add', path: '/spec/absent', new: 1 }] };
  assert.match(checkOps(r)!, /not in the stored response body/);
  // Failed writes and deletes have no state of their own to compare with.
  assert.equal(checkOps({ ...r, event: { ...r.event, outcome: 'failure' } }), undefined);
});

function manifest(): Manifest {
  return {
    crtrail_export: 1,
    created_at: '2026-01-01T00:00:00Z',
    format: 'ndjson',
    file: { name: 'x.ndjson', sha256: 'a'.repeat(64), bytes: 10 },
    count: 2,
    range: { since: 'now-1d', until: 'now' },
    filters: {},
    order: 'seq',
    chained_fields: '…',
    clusters: {},
  };
}

test('manifest signatures: valid, pinned, forged, wrong key, unsigned', () => {
  const keys = generateSigningKeys();
  const other = generateSigningKeys();
  const signed = signManifest(manifest(), keys.privateKey);
  assert.deepEqual(checkSignature(signed, keys.publicKey), { ok: true, keyId: signed.signature!.key_id, pinned: true });
  assert.equal(checkSignature(signed).ok, true);
  // Key order does not matter (canonical JSON), content does.
  const { clusters, ...rest } = signed;
  const reordered = JSON.parse(JSON.stringify({ clusters, ...rest })) as Manifest;
  assert.equal(checkSignature(reordered, keys.publicKey).ok, true);
  const forged = { ...signed, count: 3 };
  assert.match((checkSignature(forged, keys.publicKey) as { reason: string }).reason, /bad signature/);
  assert.match((checkSignature(signed, other.publicKey) as { reason: string }).reason, /not by the trusted key/);
  assert.match((checkSignature(manifest(), keys.publicKey) as { reason: string }).reason, /not signed/);
  assert.throws(() => signManifest(manifest(), 'not a key'));
});

test('the hash assembled from cached parts is exactly sha256(prev ‖ RFC 8785 JSON of the chained fields)', async () => {
  const { createHash } = await import('node:crypto');
  const { canonicalJson } = await import('@crtrail/audit');
  const { chainedFields, chainParts, hashOfParts } = await import('../src/index.js');
  for (const extra of [{}, { zzz: { b: 1, a: [2, { d: 1, c: 0 }] } }, { s: 'before seq', sz: 1 }]) {
    const r = record(7, 'c9', extra);
    const parts = chainParts(r, 'c9');
    for (const seq of [1, 42, 100_000]) {
      const direct = createHash('sha256')
        .update(GENESIS_HASH)
        .update(canonicalJson(chainedFields(r, 'c9', seq))!)
        .digest('hex');
      assert.equal(hashOfParts(GENESIS_HASH, parts, seq), direct);
      assert.equal(recordHash(GENESIS_HASH, r, 'c9', seq), direct);
    }
  }
});

test('old values are checked against the predecessor named by prev_state_hash, in either walk order', () => {
  // Two writes of one object: replicas 1 → 2. The second's old value must be the first's stored value.
  const first = record(1);
  first.crtrail.change = { ops: [], kind: 'create', baseline: 'none', state_hash: 's1', dry_run: false };
  first.kubernetes.audit.responseObject = { kind: 'Widget', spec: { replicas: 1, keep: 'x' } };
  const second = record(2);
  second.crtrail.change = {
    ops: [
      { op: 'replace', path: '/spec/replicas', old: 1, new: 2 },
      { op: 'add', path: '/spec/extra', new: true },
    ],
    kind: 'spec',
    baseline: 'known',
    state_hash: 's2',
    prev_state_hash: 's1',
    dry_run: false,
  };
  second.kubernetes.audit.responseObject = { kind: 'Widget', spec: { replicas: 2, keep: 'x', extra: true } };
  const kinds = (records: ChainedRecord[]) => {
    const sealed = structuredClone(records);
    sealRecords({ seq: 0, hash: GENESIS_HASH }, 'c1', sealed);
    const v = new ChainVerifier();
    // Walked in the given order (a late event's predecessor can come after it in seq order).
    sealed.forEach((r, i) => v.push(r, `line ${i + 1}`));
    v.finish();
    return {
      problems: v.problems.map((p) => `${p.kind}: ${p.message}`),
      checked: v.oldValuesChecked,
      unchecked: v.oldValuesUnchecked,
    };
  };
  assert.deepEqual(kinds([first, second]), { problems: [], checked: 1, unchecked: 0 });
  assert.deepEqual(kinds([second, first]), { problems: [], checked: 1, unchecked: 0 });
  const forged = structuredClone(second);
  forged.crtrail.change.ops[0].old = 7;
  assert.match(
    kinds([first, forged]).problems.join(),
    /ops-mismatch: .*\/spec\/replicas: old value differs from its predecessor's stored state/,
  );
  const addedTwice = structuredClone(second);
  addedTwice.crtrail.change.ops[1].path = '/spec/keep';
  addedTwice.crtrail.change.ops[1].new = 'x';
  assert.match(kinds([first, addedTwice]).problems.join(), /already has it/);
  // Predecessor not in the walk (filtered out): not checkable, not an error.
  assert.deepEqual(kinds([second]), { problems: [], checked: 0, unchecked: 1 });
});

test('chainParts covers exactly the chained fields, also of a stored record with odd members', async () => {
  const { chainedFields, chainParts } = await import('../src/index.js');
  const { canonicalJson } = await import('@crtrail/audit');
  const odd = JSON.parse(
    '{"v":9,"cluster":"other","seq":3,"a":{"x":1},"event":{"id":"e","ingested":"t","__proto__":{"p":1}},' +
      '"crtrail":{"received_at":"t","integrity":{"seq":1},"change":{"ops":[],"state_hash":"h"},"__proto__":{"q":2},"actor":{"name":"n"}}}',
  ) as Record<string, unknown>;
  for (const record of [odd, {}, { crtrail: { change: { dry_run: true } } }]) {
    const fields = chainedFields(record, 'c1', 0);
    delete fields.seq;
    const expected = Object.keys(fields)
      .sort()
      .flatMap((k) => {
        const c = canonicalJson(fields[k]);
        return c === undefined ? [] : [[k, c]];
      });
    assert.deepEqual(chainParts(record, 'c1'), expected);
    assert.deepEqual(chainParts(record, 'c1', true), expected);
  }
});
