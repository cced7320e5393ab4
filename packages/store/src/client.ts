import { readFileSync } from 'node:fs';
import { Client, type ClientOptions } from '@elastic/elasticsearch';
import { esNodeUrls } from '@crtrail/config';

export interface EsConnection {
  /** One node's URL, or the nodes of a cluster separated by commas (CRTRAIL_ES_URL). */
  url: string;
  username?: string;
  password?: string;
  apiKey?: string;
  /** Path of a PEM CA bundle for https URLs. */
  caFile?: string;
}

/**
 * An Elasticsearch client from the CRTRAIL_ES_* settings (basic auth or API key, optional CA). With
 * several nodes the client spreads requests over them; a node that fails (refused, reset, 502/503/504)
 * is weighted down and the request retried on another, and it is tried again later (its weight grows
 * back once it answers). Sniffing stays off: nodes behind a Service or load balancer publish
 * addresses crtrail may not reach.
 */
export function createEsClient(conn: EsConnection, extra: Partial<ClientOptions> = {}): Client {
  const nodes = esNodeUrls(conn.url);
  const options: ClientOptions = {
    node: nodes.length === 1 ? nodes[0]! : nodes,
    requestTimeout: 60_000,
    // Retries of whole requests are ours (bulk retries only 429/5xx items); the client's few are for
    // connection failures, and with N nodes at least N, so a request reaches each node once before failing.
    maxRetries: Math.max(2, nodes.length),
    ...extra,
  };
  if (conn.apiKey) options.auth = { apiKey: conn.apiKey };
  else if (conn.username) options.auth = { username: conn.username, password: conn.password ?? '' };
  if (conn.caFile) options.tls = { ca: readFileSync(conn.caFile) };
  return new Client(options);
}

/** Headers for a raw `fetch` probe with the same credentials. */
export function authHeaders(conn: EsConnection): Record<string, string> {
  if (conn.apiKey) return { authorization: `ApiKey ${conn.apiKey}` };
  if (conn.username) {
    return { authorization: `Basic ${Buffer.from(`${conn.username}:${conn.password ?? ''}`).toString('base64')}` };
  }
  return {};
}

export function esConnectionFromEnv(env: {
  CRTRAIL_ES_URL: string;
  CRTRAIL_ES_USERNAME?: string | undefined;
  CRTRAIL_ES_PASSWORD?: string | undefined;
  CRTRAIL_ES_API_KEY?: string | undefined;
  CRTRAIL_ES_CA?: string | undefined;
}): EsConnection {
  const conn: EsConnection = { url: env.CRTRAIL_ES_URL };
  if (env.CRTRAIL_ES_USERNAME) conn.username = env.CRTRAIL_ES_USERNAME;
  if (env.CRTRAIL_ES_PASSWORD) conn.password = env.CRTRAIL_ES_PASSWORD;
  if (env.CRTRAIL_ES_API_KEY) conn.apiKey = env.CRTRAIL_ES_API_KEY;
  if (env.CRTRAIL_ES_CA) conn.caFile = env.CRTRAIL_ES_CA;
  return conn;
}

/** CRTRAIL_ES_URL fit for a message: each node without user and password, comma-separated. */
export function shownEsUrl(url: string): string {
  return esNodeUrls(url)
    .map((node) => {
      try {
        const u = new URL(node);
        u.username = '';
        u.password = '';
        return u.toString().replace(/\/$/, '');
      } catch {
        return node;
      }
    })
    .join(',');
}
