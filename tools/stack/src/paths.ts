import { join, resolve } from 'node:path';
import { repoRoot } from '@crtrail/config';

export { repoRoot };

/** Ignored cache folder for downloaded Elasticsearch, its data and logs (`CRTRAIL_CACHE_DIR` or `<repo>/.cache`). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.CRTRAIL_CACHE_DIR || join(repoRoot(), '.cache'));
}
