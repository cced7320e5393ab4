import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest folder above this package holding the workspace package.json + tsconfig.base.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'tsconfig.base.json')) && existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('crtrail: cannot find the repository root');
    dir = parent;
  }
}

/** Ignored cache folder for downloaded Elasticsearch, its data and logs (`CRTRAIL_CACHE_DIR` or `<repo>/.cache`). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.CRTRAIL_CACHE_DIR || join(repoRoot(), '.cache'));
}
