import type { Client } from '@elastic/elasticsearch';
import { recordMapping, recordSettings } from './mapping.js';
import { indexNames } from './names.js';
import { DEFAULT_ROLLOVER, hasIlm } from './rollover.js';

/**
 * Installs the composable index template and bootstraps the write alias over the first backing
 * index. Idempotent: safe on every start and from several processes at once.
 */
export async function installTemplates(es: Client, prefix: string): Promise<void> {
  const names = indexNames(prefix);
  const settings: Record<string, unknown> = { ...recordSettings };
  if (await hasIlm(es)) {
    // A full distribution: let ILM roll the alias over (crtrail's own periodic rollover then finds nothing to do).
    await es.ilm.putLifecycle({
      name: names.template,
      policy: {
        phases: {
          hot: {
            actions: {
              rollover: {
                max_primary_shard_size: DEFAULT_ROLLOVER.maxPrimaryShardSize,
                max_age: DEFAULT_ROLLOVER.maxAge,
              },
            },
          },
        },
        _meta: { managed_by: 'crtrail' },
      },
    });
    settings['index.lifecycle.name'] = names.template;
    settings['index.lifecycle.rollover_alias'] = names.alias;
  }
  await es.indices.putIndexTemplate({
    name: names.template,
    index_patterns: [names.pattern],
    priority: 200,
    template: { settings, mappings: recordMapping },
    _meta: { managed_by: 'crtrail', description: 'custom-resource change records' },
  });
  await ensureMetaIndex(es, names.meta);
  const aliasExists = await es.indices.existsAlias({ name: names.alias });
  if (aliasExists) return;
  try {
    await es.indices.create({
      index: names.initial,
      aliases: { [names.alias]: { is_write_index: true } },
    });
  } catch (err) {
    // Another process bootstrapped it between our check and our create.
    if (!isAlreadyExists(err)) throw err;
  }
}

/**
 * The meta index (one document: the redaction salt's fingerprint) with the records' replica rule:
 * created on its first write, it took Elasticsearch's default of one replica, which a single node
 * never assigns, and left every one-node deployment's cluster yellow. An existing one is given the
 * rule too (replicas are a dynamic setting).
 */
async function ensureMetaIndex(es: Client, meta: string): Promise<void> {
  const settings = { auto_expand_replicas: recordSettings.auto_expand_replicas };
  try {
    await es.indices.create({ index: meta, settings: { ...settings, number_of_shards: 1 } });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    await es.indices.putSettings({ index: meta, settings });
  }
}

function isAlreadyExists(err: unknown): boolean {
  const type = (err as { body?: { error?: { type?: string } } }).body?.error?.type;
  return type === 'resource_already_exists_exception';
}

/** Deletes every index and the template of `prefix` (tests clean up with this). */
export async function deletePrefix(es: Client, prefix: string): Promise<void> {
  const names = indexNames(prefix);
  await es.indices.delete({ index: names.pattern, ignore_unavailable: true, allow_no_indices: true });
  await es.indices.delete({ index: names.meta, ignore_unavailable: true, allow_no_indices: true });
  await es.indices.deleteIndexTemplate({ name: names.template }, { ignore: [404] });
}
