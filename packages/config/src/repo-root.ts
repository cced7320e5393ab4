import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository root: the nearest folder above this package holding the workspace package.json +
 * tsconfig.base.json. Here rather than in tools/stack so that `crtrail up --webhook-only|--worker-only`
 * finds `.crtrail/` without loading the code that fetches and runs Redis and Elasticsearch.
 */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'tsconfig.base.json')) && existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('crtrail: cannot find the repository root');
    dir = parent;
  }
}
