#!/usr/bin/env node
import { main } from '../dist/main.js';

main(process.argv).catch((err) => {
  process.stderr.write(`crtrail: ${err && err.message ? err.message : String(err)}\n`);
  // An error may carry its exit status (verify: 2 = nothing could be checked); otherwise 1.
  process.exit(err && typeof err.exitCode === 'number' ? err.exitCode : 1);
});
