import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runCli } from './helpers/cli.js';
import type { LooseJson } from './helpers/loose.js';

/**
 * `crtrail kibana setup` against a local server that checks what Kibana's saved-objects import API
 * requires and answers as Kibana 8 does. No Kibana runs here; what the server accepts is the
 * documented contract (POST /[s/<space>/]api/saved_objects/_import, kbn-xsrf, multipart `file`).
 */

interface Seen {
  method: string;
  path: string;
  auth: string | undefined;
  objects: Array<{ type: string; id: string; attributes: LooseJson; references: unknown[] }>;
}

interface FakeKibana {
  url: string;
  /** What GET /api/status answers. */
  status: { code: number; body: unknown };
  /** Overrides the import answer (errors). */
  importAnswer?: (objects: Seen['objects']) => unknown;
  imports: Seen[];
  /** Required Authorization header (401 otherwise). */
  auth: string;
  /** Authenticated but without the saved-objects privilege: the import answers 403. */
  forbidImport?: boolean;
  stored: Set<string>;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function json(res: import('node:http').ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function startFakeKibana(auth: string): Promise<FakeKibana> {
  const fake: FakeKibana = {
    url: '',
    status: {
      code: 200,
      body: {
        name: 'kibana',
        version: { number: '8.19.7', build_flavor: 'traditional' },
        status: { overall: { level: 'available' } },
      },
    },
    imports: [],
    auth,
    stored: new Set(),
    close: async () => {},
  };
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://kibana');
    const body = await readBody(req);
    if (req.headers.authorization !== fake.auth)
      return json(res, 401, {
        statusCode: 401,
        error: 'Unauthorized',
        message: '[security_exception] unable to authenticate user',
      });
    if (req.method === 'GET' && url.pathname === '/api/status') return json(res, fake.status.code, fake.status.body);
    const m = /^(?:\/s\/([a-z0-9_-]+))?\/api\/saved_objects\/_import$/.exec(url.pathname);
    if (!m) return json(res, 404, { statusCode: 404, error: 'Not Found', message: 'Not Found' });
    // Kibana answers 404 for a space that does not exist.
    if (m[1] !== undefined && m[1] !== 'team-a')
      return json(res, 404, { statusCode: 404, error: 'Not Found', message: `Saved object [space/${m[1]}] not found` });
    if (fake.forbidImport)
      return json(res, 403, {
        statusCode: 403,
        error: 'Forbidden',
        message: 'Unable to bulk_create index-pattern,search,lens,dashboard',
      });
    if (req.method !== 'POST') return json(res, 404, { statusCode: 404, error: 'Not Found' });
    if (req.headers['kbn-xsrf'] === undefined)
      return json(res, 400, {
        statusCode: 400,
        error: 'Bad Request',
        message: 'Request must contain a kbn-xsrf header.',
      });
    if (!String(req.headers['content-type']).startsWith('multipart/form-data; boundary='))
      return json(res, 415, { statusCode: 415, error: 'Unsupported Media Type' });
    if (url.searchParams.get('overwrite') !== 'true')
      return json(res, 400, { statusCode: 400, message: 'expected overwrite=true' });
    // Parse the multipart body as Kibana's router does: a `file` part holding NDJSON.
    const form = await new Request('http://kibana/', {
      method: 'POST',
      headers: { 'content-type': String(req.headers['content-type']) },
      body,
    }).formData();
    const file = form.get('file');
    if (!file || typeof file === 'string')
      return json(res, 400, {
        statusCode: 400,
        error: 'Bad Request',
        message: '[request body.file]: expected value of type [Stream] but got [undefined]',
      });
    // Kibana refuses a file whose name does not end in .ndjson.
    if (!file.name.endsWith('.ndjson'))
      return json(res, 400, { statusCode: 400, error: 'Bad Request', message: `Invalid file extension ${file.name}` });
    const objects = (await file.text())
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Seen['objects'][number]);
    for (const o of objects) {
      if (
        typeof o.type !== 'string' ||
        typeof o.id !== 'string' ||
        typeof o.attributes !== 'object' ||
        !Array.isArray(o.references)
      ) {
        return json(res, 400, { statusCode: 400, message: 'not a saved object' });
      }
    }
    fake.imports.push({ method: req.method, path: url.pathname, auth: req.headers.authorization, objects });
    if (fake.importAnswer) return json(res, 200, fake.importAnswer(objects));
    const space = m[1] ?? 'default';
    const successResults = objects.map((o) => {
      const key = `${space}:${o.type}:${o.id}`;
      const existed = fake.stored.has(key);
      fake.stored.add(key);
      return {
        type: o.type,
        id: o.id,
        meta: { title: o.attributes.title, icon: 'x' },
        ...(existed ? { overwrite: true } : {}),
        managed: false,
      };
    });
    return json(res, 200, { success: true, successCount: objects.length, successResults, warnings: [] });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () => new Promise((r) => server.close(() => r()));
  return fake;
}

const BASIC = `Basic ${Buffer.from('elastic:changeme').toString('base64')}`;
const basicEnv = {
  CRTRAIL_KIBANA_USERNAME: 'elastic',
  CRTRAIL_KIBANA_PASSWORD: 'changeme',
  CRTRAIL_KIBANA_API_KEY: '',
};

describe('crtrail kibana setup', () => {
  let kb: FakeKibana;
  before(async () => {
    kb = await startFakeKibana(BASIC);
  });
  after(async () => kb?.close());

  test('imports the objects for CRTRAIL_INDEX_PREFIX into the default space (CRTRAIL_KIBANA_URL, basic auth) and lists each as created', async () => {
    kb.auth = BASIC;
    const r = await runCli(['kibana', 'setup'], {
      ...basicEnv,
      CRTRAIL_KIBANA_URL: kb.url,
      CRTRAIL_INDEX_PREFIX: 'acme',
    });
    assert.equal(r.code, 0, r.stderr);
    const seen = kb.imports.at(-1)!;
    assert.equal(seen.path, '/api/saved_objects/_import');
    assert.equal(seen.auth, BASIC);
    const dv = seen.objects.find((o) => o.type === 'index-pattern')!;
    assert.equal(dv.id, 'acme-changes');
    assert.equal(dv.attributes.title, 'acme-changes*');
    assert.equal(dv.attributes.timeFieldName, '@timestamp');
    assert.deepEqual([...new Set(seen.objects.map((o) => o.type))].sort(), [
      'dashboard',
      'index-pattern',
      'lens',
      'search',
    ]);
    assert.match(r.stdout, /^Kibana 8\.19\.7: 11 saved objects for acme-changes\*/);
    assert.match(r.stdout, /created {2}index-pattern acme-changes {2}"acme-changes\*"/);
    assert.match(r.stdout, /created {2}search acme-search-critical {2}"crtrail: critical changes"/);
    assert.match(r.stdout, /created {2}dashboard acme-dashboard/);
    assert.equal(r.stdout.match(/^ {2}created/gm)?.length, seen.objects.length);
    assert.match(r.stdout, new RegExp(`dashboard  ${kb.url}/app/dashboards#/view/acme-dashboard`));
  });

  test('--space imports under /s/<space> with an API key; a second run reports the objects as updated', async () => {
    kb.auth = 'ApiKey a2V5OnNlY3JldA==';
    const env = { CRTRAIL_KIBANA_API_KEY: 'a2V5OnNlY3JldA==', CRTRAIL_INDEX_PREFIX: 'acme' };
    const first = await runCli(['kibana', 'setup', '--kibana-url', `${kb.url}/`, '--space', 'team-a'], env);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(kb.imports.at(-1)!.path, '/s/team-a/api/saved_objects/_import');
    assert.match(first.stdout, /space team-a/);
    assert.match(first.stdout, /created {2}lens acme-lens-top-actors/);
    const again = await runCli(['kibana', 'setup', '--kibana-url', kb.url, '--space', 'team-a'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stdout, /created/);
    assert.equal(again.stdout.match(/^ {2}updated/gm)?.length, 11);
    assert.match(again.stdout, new RegExp(`${kb.url}/s/team-a/app/dashboards#/view/acme-dashboard`));
    const missing = await runCli(['kibana', 'setup', '--kibana-url', kb.url, '--space', 'team-b'], env);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /has no space "team-b" \(404 from .*\/s\/team-b\/api\/saved_objects\/_import\?overwrite=true\): create it, or leave --space out/,
    );
    const bad = await runCli(['kibana', 'setup', '--kibana-url', kb.url, '--space', 'Team A'], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--space "Team A" is not a Kibana space id/);
  });

  test('wrong credentials: exit 1 naming the 401 and which credentials were used', async () => {
    kb.auth = BASIC;
    const r = await runCli(['kibana', 'setup', '--kibana-url', kb.url], {
      CRTRAIL_KIBANA_USERNAME: 'elastic',
      CRTRAIL_KIBANA_PASSWORD: 'wrong',
      CRTRAIL_KIBANA_API_KEY: '',
    });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /answered 401 Unauthorized with user "elastic" \(CRTRAIL_KIBANA_USERNAME\/CRTRAIL_KIBANA_PASSWORD\)/,
    );
    const none = await runCli(['kibana', 'setup', '--kibana-url', kb.url], {
      CRTRAIL_KIBANA_USERNAME: '',
      CRTRAIL_KIBANA_PASSWORD: '',
      CRTRAIL_KIBANA_API_KEY: '',
    });
    assert.equal(none.code, 1);
    assert.match(
      none.stderr,
      /401 Unauthorized with no credentials \(set CRTRAIL_KIBANA_USERNAME\/CRTRAIL_KIBANA_PASSWORD or CRTRAIL_KIBANA_API_KEY\)/,
    );
    kb.forbidImport = true;
    try {
      const forbidden = await runCli(['kibana', 'setup', '--kibana-url', kb.url], basicEnv);
      assert.equal(forbidden.code, 1);
      assert.match(
        forbidden.stderr,
        /answered 403 Forbidden with user "elastic" .*: it needs the right to manage saved objects/,
      );
    } finally {
      kb.forbidImport = false;
    }
  });

  test('a Kibana 7.17, an 8.7 or a server that is not Kibana is refused before anything is imported', async () => {
    kb.auth = BASIC;
    const before = kb.imports.length;
    try {
      kb.status = { code: 200, body: { name: 'kibana', version: { number: '7.17.18' } } };
      const old = await runCli(['kibana', 'setup', '--kibana-url', kb.url], basicEnv);
      assert.equal(old.code, 1);
      assert.match(
        old.stderr,
        /Kibana at http:\/\/127\.0\.0\.1:\d+ is 7\.17\.18: crtrail's saved objects need Kibana 8\.x, 8\.8 or later/,
      );
      kb.status = { code: 200, body: { name: 'kibana', version: { number: '8.7.1' } } };
      const early = await runCli(['kibana', 'setup', '--kibana-url', kb.url], basicEnv);
      assert.equal(early.code, 1);
      assert.match(early.stderr, /is 8\.7\.1: .*8\.8 or later/);
      kb.status = { code: 200, body: { name: 'es-node', cluster_name: 'x', tagline: 'You Know, for Search' } };
      const es = await runCli(['kibana', 'setup', '--kibana-url', kb.url], basicEnv);
      assert.equal(es.code, 1);
      assert.match(es.stderr, /is not a Kibana: GET \/api\/status has no version\.number/);
      kb.status = { code: 404, body: { error: 'no such route' } };
      const other = await runCli(['kibana', 'setup', '--kibana-url', kb.url], basicEnv);
      assert.equal(other.code, 1);
      assert.match(other.stderr, /is not a Kibana: GET \/api\/status answered 404/);
    } finally {
      kb.status = { code: 200, body: { name: 'kibana', version: { number: '8.19.7' } } };
    }
    assert.equal(kb.imports.length, before, 'nothing imported');
  });

  test('import errors: exit 1 listing each object that failed and why', async () => {
    kb.auth = BASIC;
    kb.importAnswer = (objects) => {
      const lens = objects.find((o) => o.type === 'lens')!;
      const search = objects.find((o) => o.type === 'search')!;
      return {
        success: false,
        successCount: objects.length - 2,
        successResults: objects
          .filter((o) => o !== lens && o !== search)
          .map((o) => ({ type: o.type, id: o.id, meta: { title: o.attributes.title } })),
        errors: [
          {
            id: lens.id,
            type: 'lens',
            meta: { title: lens.attributes.title },
            error: { type: 'missing_references', references: [{ type: 'index-pattern', id: 'gone' }] },
          },
          {
            id: search.id,
            type: 'search',
            meta: { title: search.attributes.title },
            error: {
              type: 'unknown',
              message: 'Document "x" has property "search" which belongs to a more recent version of Kibana',
              statusCode: 400,
            },
          },
        ],
        warnings: [],
      };
    };
    try {
      const r = await runCli(['kibana', 'setup', '--kibana-url', kb.url], basicEnv);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Kibana 8\.19\.7 refused 2 of 11 saved objects:/);
      assert.match(
        r.stderr,
        /lens crtrail-lens-changes-over-time "Changes over time by actor kind": missing references index-pattern gone/,
      );
      assert.match(
        r.stderr,
        /search crtrail-search-critical "crtrail: critical changes": unknown \(Document "x" has property "search" which belongs to a more recent version of Kibana\)/,
      );
    } finally {
      delete kb.importAnswer;
    }
  });

  test('an unreachable Kibana: exit 1 naming the URL and CRTRAIL_KIBANA_URL; no URL at all: exit 1 saying what to set', async () => {
    const closed = await startFakeKibana(BASIC);
    const url = closed.url;
    await closed.close();
    const r = await runCli(['kibana', 'setup'], { ...basicEnv, CRTRAIL_KIBANA_URL: url });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr.trim(),
      `crtrail: Kibana at ${url} is not reachable (connection refused): is Kibana running there? Set --kibana-url or CRTRAIL_KIBANA_URL`,
    );
    const none = await runCli(['kibana', 'setup'], { ...basicEnv, CRTRAIL_KIBANA_URL: '' });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /--kibana-url is required \(or set CRTRAIL_KIBANA_URL\)/);
    const bad = await runCli(['kibana', 'setup', '--kibana-url', 'kibana:5601'], basicEnv);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--kibana-url kibana:5601: use http:\/\/ or https:\/\//);
    const half = await runCli(['kibana', 'setup', '--kibana-url', url], {
      CRTRAIL_KIBANA_USERNAME: 'elastic',
      CRTRAIL_KIBANA_PASSWORD: '',
    });
    assert.equal(half.code, 1);
    assert.match(half.stderr, /CRTRAIL_KIBANA_USERNAME and CRTRAIL_KIBANA_PASSWORD must be set together/);
  });
});
