import type { Client } from '@elastic/elasticsearch';
import { indexNames } from './names.js';

export interface RolloverPolicy {
  maxPrimaryShardSize: string;
  maxAge: string;
  maxDocs?: number;
}

export const DEFAULT_ROLLOVER: RolloverPolicy = Object.freeze({ maxPrimaryShardSize: '30gb', maxAge: '30d' });

/** `true` when the cluster has ILM (a full distribution); the bundled integ-test one has none. */
export async function hasIlm(es: Client): Promise<boolean> {
  try {
    await es.transport.request({ method: 'GET', path: '/_ilm/status' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Rolls the write alias over when a condition is met. crtrail calls this periodically itself where
 * ILM is absent; with ILM, the policy installed by `installTemplates` does the same.
 */
export async function rolloverIfNeeded(
  es: Client,
  prefix: string,
  policy: RolloverPolicy = DEFAULT_ROLLOVER,
): Promise<string | undefined> {
  const conditions: Record<string, unknown> = {
    max_primary_shard_size: policy.maxPrimaryShardSize,
    max_age: policy.maxAge,
  };
  if (policy.maxDocs) conditions.max_docs = policy.maxDocs;
  const res = await es.indices.rollover({ alias: indexNames(prefix).alias, conditions });
  return res.rolled_over ? res.new_index : undefined;
}

/** Unconditional rollover (operators, tests). */
export async function rollover(es: Client, prefix: string): Promise<string> {
  const res = await es.indices.rollover({ alias: indexNames(prefix).alias });
  return res.new_index;
}
