#!/usr/bin/env node
import { main } from '../dist/main.js';
import { failureOf } from '../dist/errors.js';

main(process.argv).catch((err) => {
  // A CliError carries its exit status (verify: 2 = nothing could be checked); anything else is 1.
  const { line, exitCode } = failureOf(err);
  if (line !== undefined) process.stderr.write(`crtrail: ${line}\n`);
  process.exit(exitCode);
});
