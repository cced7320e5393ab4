import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../bin/crtrail.js', import.meta.url));

// A module hook that fails any load of @crtrail/stack: the tooling that fetches and runs Redis and
// Elasticsearch has no business in a deployed webhook or worker (the image runs them with these flags).
const hooks = `export async function resolve(specifier, context, next) {
  if (specifier === '@crtrail/stack' || specifier.includes('/tools/stack/')) throw new Error('@crtrail/stack was loaded');
  return next(specifier, context);
}`;
const registerHooks = `data:text/javascript,${encodeURIComponent(
  `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});`,
)}`;

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', registerHooks, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolveRun) => child.on('exit', (code) => resolveRun({ code, stderr })));
}

async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

test('the hook does catch a load of @crtrail/stack (else the test below proves nothing)', async () => {
  const { code, stderr } = await run(['--input-type=module', '-e', "await import('@crtrail/stack')"]);
  assert.notEqual(code, 0);
  assert.match(stderr, /@crtrail\/stack was loaded/);
});

test('`up --webhook-only` / `--worker-only` never load @crtrail/stack', async () => {
  // Nothing listens on this port: each part stops at its Redis check, after every static import ran.
  const port = await unusedPort();
  for (const flag of ['--webhook-only', '--worker-only']) {
    const { code, stderr } = await run([CLI, 'up', flag], {
      CRTRAIL_REDIS_URL: `redis://127.0.0.1:${port}`,
      CRTRAIL_PORT: '0',
      CRTRAIL_WORKER_PORT: '0',
      CRTRAIL_LOG_LEVEL: 'warn',
    });
    assert.notEqual(code, 0, flag);
    assert.doesNotMatch(stderr, /@crtrail\/stack was loaded/, flag);
    assert.match(
      stderr,
      new RegExp(`Redis at redis://127\\.0\\.0\\.1:${port} does not answer: ${flag} never starts one`),
      stderr,
    );
  }
});
