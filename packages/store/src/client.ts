import { readFileSync } from 'node:fs';
import { Client, type ClientOptions } from '@elastic/elasticsearch';

export interface EsConnection {
  url: string;
  username?: string;
  password?: string;
  apiKey?: string;
  /** Path of a PEM CA bundle for https URLs. */
  caFile?: string;
}

/** An Elasticsearch client from the CRTRAIL_ES_* settings (basic auth or API key, optional CA). */
export function createEsClient(conn: EsConnection, extra: Partial<ClientOptions> = {}): Client {
  const options: ClientOptions = {
    node: conn.url,
    requestTimeout: 60_000,
    // Retries of whole requests are ours (bulk retries only 429/5xx items); keep the client's few.
    maxRetries: 2,
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
