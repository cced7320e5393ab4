import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateEvent, validateEventList } from '../src/index.js';

const ev = {
  level: 'Metadata',
  auditID: 'a',
  stage: 'ResponseComplete',
  requestURI: '/x',
  verb: 'get',
  user: { username: 'u' },
};
const list = (items: unknown[]) => ({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items });
const reason = (input: unknown) => {
  const r = validateEventList(input);
  return r.ok ? 'ok' : r.reason;
};

test('valid lists pass and are returned as is (no copy)', () => {
  const input = list([
    ev,
    { ...ev, kind: 'Event', apiVersion: 'audit.k8s.io/v1', objectRef: null, impersonatedUser: null, extraField: 1 },
  ]);
  const r = validateEventList(input);
  assert.ok(r.ok);
  assert.equal(r.value, input);
});

test('each bad input is named by the path of its first bad field', () => {
  assert.equal(reason([]), 'body: expected an audit.k8s.io/v1 EventList object');
  assert.equal(reason({ kind: 'Pod', apiVersion: 'v1', items: [] }), 'body.kind: must be "EventList"');
  assert.equal(
    reason({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1beta1', items: [] }),
    'body.apiVersion: must be "audit.k8s.io/v1"',
  );
  assert.equal(reason({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1' }), 'body.items: required');
  assert.equal(reason(list([ev, { ...ev, auditID: undefined }])), 'items[1].auditID: required');
  assert.equal(reason(list([{ ...ev, auditID: '' }])), 'items[0].auditID: must NOT have fewer than 1 characters');
  assert.match(reason(list([{ ...ev, stage: 'Done' }])), /^items\[0\]\.stage: must be one of RequestReceived/);
  assert.equal(reason(list([{ ...ev, kind: 'Pod' }])), 'items[0].kind: must be "Event"');
  assert.equal(reason(list([{ ...ev, user: { groups: ['a', 1] } }])), 'items[0].user.groups[1]: must be string');
  // Nullable fields explain the value, not "must be null".
  assert.equal(reason(list([{ ...ev, objectRef: { name: 3 } }])), 'items[0].objectRef.name: must be string');
  assert.equal(
    reason(list([{ ...ev, responseStatus: { code: 1.5 } }])),
    'items[0].responseStatus.code: must be integer',
  );
  assert.equal(reason(list(['not an event'])), 'items[0]: must be object');
  const one = validateEvent({ ...ev, verb: '' }, 'line 3');
  assert.equal(one.ok ? 'ok' : one.reason, 'line 3.verb: must NOT have fewer than 1 characters');
});

test('fields Elasticsearch types are typed at the door: timestamps, status code, status strings', () => {
  const ok = [
    '2026-01-02T03:04:05Z',
    '2026-01-02T03:04:05.123456Z',
    '2026-01-02T03:04:05.123456789+02:00',
    '2024-02-29T23:59:59.1-07:30',
    '2000-02-29T00:00:00Z',
    '2026-04-30T00:00:00Z',
    '2026-12-31T23:59:59Z',
  ];
  for (const t of ok) assert.equal(reason(list([{ ...ev, stageTimestamp: t, requestReceivedTimestamp: t }])), 'ok', t);
  const bad = [
    'yesterday',
    '2026-01-02 03:04:05Z',
    '2026-01-02T03:04:05',
    '2026-13-02T03:04:05Z',
    '2026-02-30T03:04:05Z',
    '2026-02-29T03:04:05Z',
    '1900-02-29T00:00:00Z',
    '2026-04-31T00:00:00Z',
    '2026-00-10T00:00:00Z',
    '2026-01-00T00:00:00Z',
    // Years 0-99 are judged as Date.UTC judges them (as 1900-1999): 0000 is not a leap year here.
    '0000-02-29T00:00:00Z',
    '2026-01-02T24:00:00Z',
    '2026-01-02T03:04:60Z',
    '2026-01-02T03:04:05.1234567890Z',
    '',
  ];
  for (const t of bad) {
    assert.equal(
      reason(list([ev, ev, ev, { ...ev, stageTimestamp: t }])),
      'items[3].stageTimestamp: must be an RFC 3339 timestamp (e.g. 2026-01-02T03:04:05.123456Z)',
      t,
    );
  }
  assert.match(
    reason(list([{ ...ev, requestReceivedTimestamp: 1767323045 }])),
    /^items\[0\]\.requestReceivedTimestamp: must be string/,
  );
  assert.equal(reason(list([{ ...ev, stageTimestamp: null }])), 'ok');
  assert.equal(
    reason(list([{ ...ev, responseStatus: { code: '200' } }])),
    'items[0].responseStatus.code: must be integer',
  );
  assert.equal(
    reason(list([{ ...ev, responseStatus: { code: 200.5 } }])),
    'items[0].responseStatus.code: must be integer',
  );
  assert.equal(
    reason(list([{ ...ev, responseStatus: { code: 2 ** 31 } }])),
    'items[0].responseStatus.code: must be <= 2147483647',
  );
  assert.equal(
    reason(list([{ ...ev, responseStatus: { code: 409, reason: 42 } }])),
    'items[0].responseStatus.reason: must be string',
  );
  assert.equal(
    reason(list([{ ...ev, responseStatus: { code: 409, message: { x: 1 } } }])),
    'items[0].responseStatus.message: must be string',
  );
  assert.equal(
    reason(list([{ ...ev, responseStatus: { code: 409, status: false } }])),
    'items[0].responseStatus.status: must be string',
  );
  assert.equal(
    reason(
      list([
        {
          ...ev,
          responseStatus: {
            metadata: {},
            code: 409,
            status: 'Failure',
            reason: 'Conflict',
            message: 'm',
            details: { name: 'w' },
          },
        },
      ]),
    ),
    'ok',
  );
  assert.equal(
    reason(list([{ ...ev, objectRef: { resourceVersion: 12 } }])),
    'items[0].objectRef.resourceVersion: must be string',
  );
  assert.equal(reason(list([{ ...ev, sourceIPs: ['10.0.0.1', 7] }])), 'items[0].sourceIPs[1]: must be string');
  assert.equal(
    reason(list([{ ...ev, annotations: { 'authorization.k8s.io/decision': true } }])),
    'items[0].annotations.authorization.k8s.io~1decision: must be string'.replace('~1', '/'),
  );
});
