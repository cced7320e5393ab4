import { InvalidArgumentError } from 'commander';

/** A count flag (`--workers`, `--batch`, `--wait`): a whole number from 1. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** The webhook this environment runs (CRTRAIL_HOST/CRTRAIL_PORT), as `replay` and `demo` send to it by default. */
export function defaultWebhookUrl(): string {
  const host = process.env.CRTRAIL_HOST || '127.0.0.1';
  const port = process.env.CRTRAIL_PORT || '8080';
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
