/**
 * `crtrail up --worker-only` as the product wires it, with one dependency swapped: an enricher that
 * throws on events carrying the annotation {@link POISON_ANNOTATION}. Since the change engine was made
 * to take any schema-valid body without throwing, no real event makes processing fail any more; this
 * stands in for the bug that one day will, so the fault suite can check that such an event is
 * dead-lettered alone and its batch-mates are stored. Everything else (Redis, Elasticsearch, BullMQ,
 * the process, its signals) is the real thing.
 */
import { loadConfig, loadEnv } from '@crtrail/config';
import { createEnricher, startWorker, type Enricher } from '@crtrail/worker';
import { POISON_ANNOTATION } from './generator.js';

const env = loadEnv();
const config = loadConfig(env.CRTRAIL_CONFIG);
const real = createEnricher(config);
const enricher = ((r: Parameters<Enricher>[0]) => {
  if (r.event.annotations?.[POISON_ANNOTATION] === 'true')
    throw new Error('poison: this event makes processing throw (fault suite)');
  return real(r);
}) as Enricher;
enricher.actorOf = real.actorOf;
enricher.repair = real.repair;

const worker = await startWorker({ env, config, enricher });
const stop = async (): Promise<void> => {
  await worker.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
