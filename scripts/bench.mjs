// `npm run bench` (and `npm run bench:scale`, `npm run bench:export`): install + build, then bench/run.ts
// (`npm run bench -- --only big`: the big-batch case alone).
import { spawnSync } from 'node:child_process';
import { bootstrap, root } from './bootstrap.mjs';

bootstrap();
const args = process.argv.slice(2);
// `--export`: bench/export-scale.ts (1M-record export/verify); anything else: bench/run.ts.
const script = args.includes('--export') ? 'bench/export-scale.ts' : 'bench/run.ts';
const r = spawnSync(process.execPath, ['--import', 'tsx', script, ...args.filter((a) => a !== '--export')], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
