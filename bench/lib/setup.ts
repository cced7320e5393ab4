/** Where the bench reaches Redis, Elasticsearch and the CLI, and where it writes; no side effects. */
import { join } from 'node:path';
import { repoRoot } from '@crtrail/stack';

export const REDIS_URL = process.env.CRTRAIL_REDIS_URL || 'redis://127.0.0.1:6379';
export const ES_URL = process.env.CRTRAIL_ES_URL || 'http://127.0.0.1:9200';
export const root = repoRoot();
/** BENCH_OUT_DIR: somewhere else than bench/results, so a trial run does not replace the published figures. */
export const outDir = process.env.BENCH_OUT_DIR || join(root, 'bench', 'results');
export const say = (m: string): void => void process.stderr.write(`bench: ${m}\n`);
