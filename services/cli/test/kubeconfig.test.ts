import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { reachableUrl } from '../src/ops/kubeconfig.js';

const CLI = fileURLToPath(new URL('../bin/crtrail.js', import.meta.url));

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, CRTRAIL_PUBLIC_URL: '', ...env },
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the kubeconfig names an address an apiserver can dial', () => {
  assert.equal(reachableUrl({ CRTRAIL_PUBLIC_URL: undefined }, 'http://127.0.0.1:8080'), 'http://127.0.0.1:8080');
  assert.equal(reachableUrl({ CRTRAIL_PUBLIC_URL: undefined }, 'http://0.0.0.0:8080'), `http://${hostname()}:8080`);
  assert.equal(
    reachableUrl({ CRTRAIL_PUBLIC_URL: 'https://crtrail.example.internal:8443/' }, 'https://0.0.0.0:8443'),
    'https://crtrail.example.internal:8443',
  );
});

test('crtrail kubeconfig --server writes the apiserver kubeconfig; bad or missing --server is an error naming it', () => {
  const ok = cli(['kubeconfig', '--server', 'https://crtrail.example.internal:8443/audit', '--cluster', 'prod-eu']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /server: https:\/\/crtrail\.example\.internal:8443\/audit\/prod-eu\n/);
  const fromEnv = cli(['kubeconfig'], {
    CRTRAIL_PUBLIC_URL: 'http://crtrail.example.internal:8080',
    CRTRAIL_CLUSTER: 'staging',
  });
  assert.match(fromEnv.stdout, /server: http:\/\/crtrail\.example\.internal:8080\/audit\/staging\n/);
  const missing = cli(['kubeconfig']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /--server is required \(or set CRTRAIL_PUBLIC_URL\)/);
  const bad = cli(['kubeconfig', '--server', 'not a url']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--server "not a url" is not a URL/);
});

test('crtrail --version prints the version', () => {
  const r = cli(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
});
