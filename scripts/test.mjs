// `npm test`: install + build, bring up Redis and Elasticsearch the way `npm start` does (reusing
// running ones), run the unit and integration suites with node:test, stop what this script started.
import { spawn } from 'node:child_process';
import { readdirSync, existsSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { bootstrap, root } from './bootstrap.mjs';

const args = new Set(process.argv.slice(2));
const wantUnit = !args.has('--integration');
const wantIntegration = !args.has('--unit');

function testFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (name === 'node_modules' || name === 'dist') return [];
    if (statSync(p).isDirectory()) return testFiles(p);
    return name.endsWith('.test.ts') ? [p] : [];
  });
}

bootstrap();
const stack = await import('../tools/stack/dist/index.js');

const unit = ['packages', 'services', 'tools'].flatMap((d) =>
  readdirSync(join(root, d)).flatMap((pkg) => testFiles(join(root, d, pkg, 'test'))),
);
const integration = testFiles(join(root, 'test'));
const files = [...(wantUnit ? unit : []), ...(wantIntegration ? integration : [])].map((f) => relative(root, f));

const started = [];
const env = { ...process.env };
env.CRTRAIL_REDIS_URL ||= 'redis://127.0.0.1:6379';
env.CRTRAIL_ES_URL ||= 'http://127.0.0.1:9200';
env.CRTRAIL_LOG_LEVEL ||= 'warn';
const say = (m) => process.stderr.write(`test: ${m}\n`);
let code = 1;
try {
  if (wantIntegration) {
    // A throw-away Redis for the tests: nothing in it is worth keeping.
    const redis = await stack.ensureRedis(env.CRTRAIL_REDIS_URL, say, { persistent: false });
    if (redis.started) started.push(redis.started);
    const es = await stack.ensureElasticsearch(env.CRTRAIL_ES_URL, {}, say);
    if (es.started) started.push(es.started);
  }
  say(`${files.length} test files`);
  code = await new Promise((resolveRun) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-timeout=600000', ...files],
      { cwd: root, env, stdio: 'inherit' },
    );
    child.on('exit', (c, signal) => resolveRun(c ?? (signal ? 1 : 0)));
  });
} catch (err) {
  say(err?.message ?? String(err));
} finally {
  for (const m of started.reverse()) {
    say(`stopping ${m.name}`);
    await m.stop();
  }
}
process.exit(code);
