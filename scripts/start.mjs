// `npm start`: install what is missing, build, then `crtrail up` (Redis, Elasticsearch, webhook, worker).
import { bootstrap } from './bootstrap.mjs';

bootstrap();
const { main } = await import('../services/cli/dist/main.js');
await main([process.argv[0], 'crtrail', 'up', ...process.argv.slice(2)]).catch((err) => {
  process.stderr.write(`crtrail: ${err?.message ?? err}\n`);
  process.exit(1);
});
