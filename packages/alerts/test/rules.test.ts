import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkConfigText, defaultConfig, type CrtrailConfig } from '@crtrail/config';
import { alertPlan, recordFacts, routeRecord, sinkName, type RecordFacts } from '../src/index.js';

function configOf(yaml: string): CrtrailConfig {
  const r = checkConfigText(yaml, 'crtrail.yaml');
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  return r.config;
}

/** A stored record as the worker writes it (only the fields alerts read). */
function doc(
  over: {
    verb?: string;
    code?: number;
    kind?: string | undefined;
    group?: string;
    resource?: string;
    change?: Record<string, unknown>;
    actor?: Record<string, unknown>;
  } = {},
) {
  const code = over.code ?? 200;
  return {
    '@timestamp': '2026-11-30T10:00:00.000000Z',
    event: { action: over.verb ?? 'patch', outcome: code >= 400 ? 'failure' : 'success' },
    orchestrator: { cluster: { name: 'prod' } },
    source: { ip: '192.0.2.44' },
    kubernetes: { audit: { responseStatus: { code }, userAgent: 'kubectl/v1.29.3', sourceIPs: ['192.0.2.44'] } },
    crtrail: {
      actor: { kind: 'human', name: 'alice@example.com', tool: 'kubectl-edit', ...over.actor },
      object: {
        group: over.group ?? 'cert-manager.io',
        kind: 'kind' in over ? over.kind : 'Certificate',
        resource: over.resource ?? 'certificates',
        namespace: 'payments',
        name: 'payments-tls',
        version: 'v1',
      },
      change: {
        ops: [{ op: 'add', path: '/spec/dnsNames/1', new: 'pay-admin.example.com' }],
        paths: ['/spec/dnsNames/1'],
        kind: 'spec',
        critical: true,
        critical_paths: ['/spec/dnsNames/1'],
        drift: false,
        dry_run: false,
        ...over.change,
      },
    },
  };
}

const names = (f: RecordFacts, config: CrtrailConfig): string[][] =>
  routeRecord(f, alertPlan(config)).map((r) => r.rules.map((x) => x.name));
const SINK = 'alerts:\n  sinks:\n    - { type: webhook, url: "http://127.0.0.1:1/hook" }\n';

test('default rules: critical change, drift, failed attempt on a critical object, delete of a critical object; nothing else', () => {
  const config = configOf(SINK);
  assert.deepEqual(names(recordFacts('a', doc()), config), [['critical-change']]);
  assert.deepEqual(
    names(recordFacts('b', doc({ change: { critical: false, critical_paths: [], drift: true } })), config),
    [['gitops-drift']],
  );
  // A denied write is logged without its body: no paths, on an object with critical fields.
  assert.deepEqual(
    names(
      recordFacts('c', doc({ code: 403, change: { ops: [], paths: [], critical: false, critical_paths: [] } })),
      config,
    ),
    [['failed-critical-attempt']],
  );
  // A delete answered by a Status: the kind is unknown, the resource name stands in for it.
  assert.deepEqual(
    names(
      recordFacts(
        'd',
        doc({
          verb: 'delete',
          kind: undefined,
          group: 'argoproj.io',
          resource: 'applications',
          change: { kind: 'delete', critical: false, critical_paths: [], ops: [], paths: [] },
        }),
      ),
      config,
    ),
    [['critical-delete']],
  );
  // A delete held by finalizers: the request alerts (kind metadata), the controller's last finalizer removal (kind delete) does not.
  assert.deepEqual(
    names(
      recordFacts(
        'd2',
        doc({
          verb: 'delete',
          change: {
            kind: 'metadata',
            critical: false,
            critical_paths: [],
            ops: [{ op: 'add', path: '/metadata/deletionTimestamp', new: 'x' }],
            paths: ['/metadata/deletionTimestamp'],
          },
        }),
      ),
      config,
    ),
    [['critical-delete']],
  );
  assert.deepEqual(
    names(
      recordFacts(
        'd3',
        doc({
          verb: 'patch',
          actor: { kind: 'controller', name: 'cert-manager' },
          change: { kind: 'delete', critical: true },
        }),
      ),
      config,
    ),
    [],
  );
  // Not alerted: a non-critical change, a dry run, a failed write of an object without critical fields, a delete of one.
  assert.deepEqual(names(recordFacts('e', doc({ change: { critical: false, critical_paths: [] } })), config), []);
  assert.deepEqual(names(recordFacts('f', doc({ change: { dry_run: true } })), config), []);
  assert.deepEqual(
    names(
      recordFacts(
        'g',
        doc({
          code: 403,
          group: 'example.com',
          kind: 'Widget',
          resource: 'widgets',
          change: { ops: [], paths: [], critical: false, critical_paths: [] },
        }),
      ),
      config,
    ),
    [],
  );
  assert.deepEqual(
    names(
      recordFacts(
        'h',
        doc({
          verb: 'delete',
          group: 'example.com',
          kind: 'Widget',
          resource: 'widgets',
          change: { kind: 'delete', critical: false, critical_paths: [] },
        }),
      ),
      config,
    ),
    [],
  );
});

test('custom rules by group/kind/path/actor kind/verb/outcome; sinks take the rules they name; critical_only: false takes every change', () => {
  const config = configOf(
    [
      'alerts:',
      '  default_rules: false',
      '  rules:',
      '    - { name: model-by-hand, group: serving.kserve.io, kind: InferenceService, paths: [spec.predictor.model.storageUri], actor_kinds: [human], verbs: [patch, update], outcome: success }',
      '    - { name: denied, outcome: failure }',
      '  sinks:',
      '    - { type: slack, url: "https://hooks.slack.example/T/B/x", rules: [model-by-hand] }',
      '    - { type: webhook, name: everything, url: "http://127.0.0.1:1/all", critical_only: false }',
    ].join('\n'),
  );
  const model = doc({
    group: 'serving.kserve.io',
    kind: 'InferenceService',
    resource: 'inferenceservices',
    change: { paths: ['/spec/predictor/model/storageUri'], critical: false, critical_paths: [] },
  });
  const plan = alertPlan(config);
  const routes = (d: object) =>
    routeRecord(recordFacts('x', d as never), plan).map(
      (r) => `${r.sink.name}:${r.rules.map((x) => x.name).join('+')}`,
    );
  assert.deepEqual(routes(model), [
    `${sinkName({ type: 'slack', url: 'https://hooks.slack.example/T/B/x' })}:model-by-hand`,
    'everything:model-by-hand',
  ]);
  assert.deepEqual(
    routes({ ...model, crtrail: { ...model.crtrail, actor: { kind: 'gitops', name: 'flux' } } }),
    ['everything:change'],
    'another actor kind: only the catch-all',
  );
  assert.deepEqual(
    routes({ ...model, event: { action: 'delete', outcome: 'success' } }),
    ['everything:change'],
    'another verb',
  );
  assert.deepEqual(routes(doc({ code: 409 })), ['everything:denied']);
  assert.deepEqual(routes(doc({ change: { paths: ['/spec/other'] } })), ['everything:change'], 'default rules are off');
  assert.match(
    sinkName({ type: 'slack', url: 'https://hooks.slack.example/T/B/x' }),
    /^slack-[0-9a-f]{8}$/,
    'a sink is never named by its (secret) URL',
  );
});

test('config check: every alerts key is validated and an error names it', () => {
  const bad = (yaml: string, re: RegExp) => {
    const r = checkConfigText(yaml, 'crtrail.yaml');
    assert.equal(r.ok, false, yaml);
    if (!r.ok) assert.match(r.errors.join('\n'), re);
  };
  bad(
    'alerts:\n  sinks:\n    - { type: pagerduty, url: "http://x" }\n',
    /crtrail\.yaml:3: alerts\.sinks\.0\.type: Invalid enum value/,
  );
  bad('alerts:\n  sinks:\n    - { type: webhook, url: "not a url" }\n', /alerts\.sinks\.0\.url: Invalid url/);
  bad(
    'alerts:\n  sinks:\n    - { type: webhook, url: "http://x", rules: [nope] }\n',
    /alerts\.sinks\.0\.rules\.0: no alert rule named "nope"/,
  );
  bad(
    'alerts:\n  rules:\n    - { name: critical-change }\n',
    /alerts\.rules\.0\.name: rule name "critical-change" is already taken/,
  );
  bad('alerts:\n  rules:\n    - { name: x, verbs: [get] }\n', /alerts\.rules\.0\.verbs\.0: Invalid enum value/);
  bad('alerts:\n  rules:\n    - { name: x, paths: ["spec..x"] }\n', /alerts\.rules\.0\.paths\.0: a dot path/);
  bad(
    'alerts:\n  rules:\n    - { name: x, namespace: "(" }\n',
    /alerts\.rules\.0\.namespace: not a valid regular expression/,
  );
  bad(
    'alerts:\n  group_window_seconds: -1\n',
    /alerts\.group_window_seconds: Number must be greater than or equal to 0/,
  );
  bad('alerts:\n  rate_limit_per_second: 0\n', /alerts\.rate_limit_per_second/);
  bad('alerts:\n  grouping: 5\n', /crtrail\.yaml:2: alerts\.grouping: unknown key/);
  // As the users wrote it before: still valid, with the defaults filled in.
  const old = configOf(
    'alerts:\n  sinks:\n    - { type: webhook, url: "http://127.0.0.1:1/hook" }\n    - { type: slack, url: "https://hooks.slack.example/x", critical_only: true }\n',
  );
  assert.equal(old.alerts.sinks.length, 2);
  assert.equal(old.alerts.default_rules, true);
  assert.equal(old.alerts.group_window_seconds, 60);
  assert.deepEqual(defaultConfig().alerts.sinks, []);
});
