// `npm run bench` (and `npm run bench:scale`): install + build, then bench/run.ts.
import { spawnSync } from 'node:child_process';
import { bootstrap, root } from './bootstrap.mjs';

bootstrap();
const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
