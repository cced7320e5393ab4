import { readFileSync } from 'node:fs';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** crtrail's version (this package's, which moves with the rest of the workspace). */
export const CRTRAIL_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/**
 * A registry for one service (`webhook`, `worker`): the standard `process_*` / `nodejs_*` metrics
 * under their usual names — so stock Node.js dashboards and alerts work — told apart by a `service`
 * label rather than by a renamed prefix, and `crtrail_build_info{version, node}` = 1.
 */
export function serviceRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'crtrail_build_info',
    help: 'crtrail version and Node.js version of this process (always 1)',
    labelNames: ['version', 'node'],
    registers: [registry],
  }).set({ version: CRTRAIL_VERSION, node: process.version }, 1);
  return registry;
}

/** Label values beyond this many distinct ones are folded into `other`. */
export const MAX_LABEL_VALUES = 100;

/**
 * Keeps a label's values bounded: the `known` ones and the first `max` others seen pass as they are,
 * any later one becomes `other`. A label fed from a request (the cluster of `POST /audit/<name>`) would
 * otherwise let any client add series without end to every scrape.
 */
export function boundedLabel(known: Iterable<string> = [], max = MAX_LABEL_VALUES): (value: string) => string {
  const allowed = new Set(known);
  const seen = new Set<string>();
  return (value) => {
    if (allowed.has(value) || seen.has(value)) return value;
    if (seen.size >= max) return 'other';
    seen.add(value);
    return value;
  };
}
