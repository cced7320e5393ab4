#!/usr/bin/env node
import { main } from '../dist/main.js';

main(process.argv).catch((err) => {
  process.stderr.write(`crtrail: ${err && err.message ? err.message : String(err)}\n`);
  // 2: could not check or run at all (bad arguments, missing file); 1: ran and found a problem.
  process.exit(err && err.name === 'VerifyUsageError' ? 2 : 1);
});
