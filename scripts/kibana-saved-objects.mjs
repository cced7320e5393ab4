// `npm run kibana:objects`: writes kibana/crtrail-saved-objects.ndjson, the Kibana saved objects for
// the default index prefix, from their readable source (services/cli/src/kibana/saved-objects.ts).
// The file is for importing by hand (Stack Management > Saved objects > Import); `crtrail kibana
// setup` builds the same objects for CRTRAIL_INDEX_PREFIX. A test fails when the file is stale.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './bootstrap.mjs';

const { kibanaSavedObjects, toNdjson } = await import('../services/cli/dist/kibana/saved-objects.js');
const out = join(root, 'kibana', 'crtrail-saved-objects.ndjson');
writeFileSync(out, toNdjson(kibanaSavedObjects('crtrail')));
process.stdout.write(`wrote ${out}\n`);
