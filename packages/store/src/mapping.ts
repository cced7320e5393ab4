import type { estypes } from '@elastic/elasticsearch';

const keyword = { type: 'keyword', ignore_above: 1024 } as const;
const stored = { type: 'object', enabled: false } as const;
const date = { type: 'date' } as const;
const bool = { type: 'boolean' } as const;

const objectRefProperties = {
  apiGroup: keyword,
  apiVersion: keyword,
  resource: keyword,
  subresource: keyword,
  namespace: keyword,
  name: keyword,
  uid: keyword,
  resourceVersion: keyword,
};

/**
 * Mapping of a change record: ECS + Elastic's Kubernetes audit integration names, keywords for
 * what people filter on. `dynamic: false` at the root keeps arbitrary custom-resource bodies and
 * op values in `_source` without ever adding fields to the mapping (1,000 CRDs with distinct field
 * names would otherwise hit `index.mapping.total_fields.limit`). Op values are searchable through
 * the `crtrail.change.text` string form instead.
 */
export const recordMapping: estypes.MappingTypeMapping = {
  dynamic: false,
  properties: {
    '@timestamp': date,
    ecs: { properties: { version: keyword } },
    event: {
      properties: {
        id: keyword,
        action: keyword,
        outcome: keyword,
        kind: keyword,
        category: keyword,
        type: keyword,
        created: date,
        ingested: date,
      },
    },
    orchestrator: {
      properties: {
        cluster: { properties: { name: keyword } },
        resource: { properties: { type: keyword, name: keyword } },
        namespace: keyword,
        type: keyword,
      },
    },
    user: { properties: { name: keyword } },
    source: { properties: { ip: { type: 'ip', ignore_malformed: true } } },
    user_agent: { properties: { original: keyword } },
    kubernetes: {
      properties: {
        audit: {
          properties: {
            auditID: keyword,
            level: keyword,
            stage: keyword,
            verb: keyword,
            requestURI: keyword,
            userAgent: keyword,
            sourceIPs: keyword,
            requestReceivedTimestamp: date,
            stageTimestamp: date,
            objectRef: { properties: objectRefProperties },
            user: { properties: { username: keyword, uid: keyword, groups: keyword, extra: stored } },
            impersonatedUser: { properties: { username: keyword, groups: keyword, extra: stored } },
            responseStatus: {
              properties: { code: { type: 'integer' }, reason: keyword, status: keyword, message: { type: 'text' } },
            },
            annotations: { type: 'flattened', ignore_above: 1024 },
            requestObject: stored,
            responseObject: stored,
          },
        },
      },
    },
    crtrail: {
      properties: {
        actor: { properties: { kind: keyword, name: keyword, tool: keyword, manager: keyword, impersonator: keyword } },
        object: {
          properties: {
            kind: keyword,
            group: keyword,
            version: keyword,
            resource: keyword,
            namespace: keyword,
            name: keyword,
            uid: keyword,
            resourceVersion: keyword,
            key: keyword,
          },
        },
        change: {
          properties: {
            ops: stored,
            patch: stored,
            server_mutations: stored,
            paths: keyword,
            text: { type: 'text' },
            kind: keyword,
            baseline: keyword,
            patch_type: keyword,
            critical: bool,
            critical_paths: keyword,
            dry_run: bool,
            gap: bool,
            drift: bool,
            state_hash: keyword,
            prev_state_hash: keyword,
          },
        },
        state: { properties: { after: stored } },
        integrity: { properties: { seq: { type: 'long' }, hash: keyword, prev_hash: keyword } },
        config_digest: keyword,
        received_at: date,
      },
    },
  },
};

export const recordSettings: estypes.IndicesIndexSettings = {
  // One replica where a second node exists, none on a single node (stays green).
  auto_expand_replicas: '0-1',
  number_of_shards: 1,
  refresh_interval: '1s',
};
