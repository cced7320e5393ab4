#!/usr/bin/env node
import { main } from '../dist/main.js';

main(process.argv).catch((err) => {
  process.stderr.write(`crtrail: ${err && err.message ? err.message : String(err)}\n`);
  process.exit(1);
});
