// `npm run lint`: every check runs, even after one failed, so a single run shows all that is wrong;
// the exit code is non-zero if any failed.
import { spawnSync } from 'node:child_process';
import { root } from './bootstrap.mjs';

const steps = [
  ['build', 'tsc', '--build'],
  ['typecheck tests and benches', 'tsc', '-p', 'test/tsconfig.json', '--noEmit'],
  ['eslint', 'eslint', '.'],
  ['prettier', 'prettier', '--check', '.'],
  ['circular imports', 'madge', '--circular', '--extensions', 'ts', 'packages', 'services', 'tools'],
  [
    'dependencies and files',
    'knip',
    '--include',
    'files,dependencies,unlisted,binaries,unresolved',
    '--no-config-hints',
  ],
];

const failed = [];
for (const [name, command, ...args] of steps) {
  process.stderr.write(`lint: ${name}\n`);
  // npx resolves the workspace's own binaries (node_modules/.bin) without a shell.
  const run = spawnSync('npx', ['--no-install', command, ...args], { cwd: root, stdio: 'inherit' });
  if (run.status !== 0) failed.push(name);
}
process.stderr.write(failed.length ? `lint: failed: ${failed.join(', ')}\n` : 'lint: all passed\n');
process.exit(failed.length ? 1 : 0);
