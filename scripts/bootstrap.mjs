// Makes a fresh clone runnable with nothing installed by hand: npm dependencies, then the
// TypeScript build. Plain Node (no dependencies of its own) because it runs before `npm install`.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = dirname(dirname(fileURLToPath(import.meta.url)));

function run(command, args) {
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`crtrail: \`${command} ${args.join(' ')}\` failed (exit ${r.status})\n`);
    process.exit(r.status || 1);
  }
}

function mtime(path) {
  try {
    return statSync(join(root, path)).mtimeMs;
  } catch {
    return 0;
  }
}

/** npm install when node_modules is missing or older than the lock file; then an incremental build. */
export function bootstrap({ quiet = false } = {}) {
  const installed = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(installed) || mtime('package-lock.json') > mtime('node_modules/.package-lock.json')) {
    if (!quiet) process.stderr.write('crtrail: installing npm dependencies…\n');
    run('npm', ['install', '--no-audit', '--no-fund']);
  }
  run('npx', ['tsc', '--build']);
}
