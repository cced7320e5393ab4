import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildWebhook, type WebhookOptions } from '../../src/app.js';
import { MemorySink } from './memory-sink.js';

/** A custom-resource mutation (kept by the filter). */
export const event = (id: string | number) => ({
  level: 'Metadata',
  auditID: typeof id === 'number' ? `a-${id}` : id,
  stage: 'ResponseComplete',
  requestURI: '/apis/example.com/v1/namespaces/x/widgets/w',
  verb: 'patch',
  user: { username: 'alice' },
  objectRef: { apiGroup: 'example.com', resource: 'widgets', namespace: 'x', name: 'w' },
});

export const list = (items: unknown[]) => ({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items });
export const eventList = (items: unknown[]): string => JSON.stringify(list(items));

export interface TestApp {
  app: FastifyInstance;
  sink: MemorySink;
  /** POSTs `body` as JSON (unless `headers` say otherwise) to `path`, default `/audit/c1`. */
  post(body: string | Buffer, headers?: Record<string, string>, path?: string): Promise<LightMyRequestResponse>;
  /** The value of the sample `line` (name and labels) in /metrics, 0 when absent. */
  metric(line: string): Promise<number>;
}

/** A webhook on an in-memory sink, driven with `app.inject()`: no server, no Redis. */
export function testApp(options: Partial<Omit<WebhookOptions, 'sink'>> = {}): TestApp {
  const sink = new MemorySink();
  const app = buildWebhook({ sink, defaultCluster: 'default', bodyLimit: 1024 * 1024, ...options });
  return {
    app,
    sink,
    post: (body, headers = {}, path = '/audit/c1') =>
      app.inject({
        method: 'POST',
        url: path,
        headers: { 'content-type': 'application/json', ...headers },
        payload: body,
      }),
    async metric(line) {
      const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      const found = text.split('\n').find((l) => l.startsWith(line + ' '));
      return found ? Number(found.slice(line.length + 1)) : 0;
    },
  };
}
