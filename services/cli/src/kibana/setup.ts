import { shorten } from '@crtrail/audit';
import { CliError } from '../errors.js';
import { MIN_KIBANA, kibanaSavedObjects, toNdjson, type SavedObject } from './saved-objects.js';

export interface KibanaTarget {
  /** Kibana's base URL, e.g. https://kibana.example.internal:5601 (a base path included). */
  url: string;
  /** Space id; unset: the default space. */
  space?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  apiKey?: string | undefined;
  timeoutMs?: number;
}

interface ImportResponse {
  success?: boolean;
  successCount?: number;
  successResults?: Array<{ type: string; id: string; meta?: { title?: string }; overwrite?: boolean }>;
  errors?: Array<{ type: string; id: string; title?: string; meta?: { title?: string }; error?: { type?: string; message?: string; references?: Array<{ type: string; id: string }> } }>;
}

export interface SetupResult {
  version: string;
  /** One line per object: `created|updated <type> <id> "<title>"`. */
  lines: string[];
  dashboardUrl: string;
}

function baseUrl(target: KibanaTarget): string {
  let url: URL;
  try {
    url = new URL(target.url);
  } catch {
    throw new CliError(`--kibana-url ${JSON.stringify(target.url)} is not a URL (e.g. http://127.0.0.1:5601; default: CRTRAIL_KIBANA_URL)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`--kibana-url ${target.url}: use http:// or https://`);
  return url.toString().replace(/\/+$/, '');
}

function spacePath(space: string | undefined): string {
  if (space === undefined || space === '' || space === 'default') return '';
  // Kibana's space ids: lowercase letters, digits, _ and -.
  if (!/^[a-z0-9_-]+$/.test(space)) throw new CliError(`--space ${JSON.stringify(space)} is not a Kibana space id (lowercase letters, digits, _ and -)`);
  return `/s/${space}`;
}

function authHeader(target: KibanaTarget): Record<string, string> {
  if (target.apiKey) return { authorization: `ApiKey ${target.apiKey}` };
  if (target.username !== undefined && target.password !== undefined) {
    return { authorization: `Basic ${Buffer.from(`${target.username}:${target.password}`).toString('base64')}` };
  }
  return {};
}

/** Why a request never got an answer, from the error chain fetch throws. */
function unreachable(err: unknown, url: string): CliError {
  let code: string | undefined;
  for (let e: unknown = err; e && typeof e === 'object' && !code; e = (e as { cause?: unknown }).cause) {
    const c = (e as { code?: unknown }).code;
    if (typeof c === 'string') code = c;
  }
  const name = (err as { name?: string }).name;
  const why =
    name === 'TimeoutError' || name === 'AbortError'
      ? 'no answer in time'
      : code === 'ECONNREFUSED'
        ? 'connection refused'
        : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? `host ${new URL(url).hostname} not found`
          : code
            ? code
            : String((err as Error).message ?? err);
  return new CliError(`Kibana at ${url} is not reachable (${why}): is Kibana running there? Set --kibana-url or CRTRAIL_KIBANA_URL`);
}

async function request(target: KibanaTarget, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(target.timeoutMs ?? 30_000) });
  } catch (err) {
    throw unreachable(err, target.url);
  }
}

function authFailure(status: number, target: KibanaTarget): CliError {
  const how = target.apiKey ? 'the API key CRTRAIL_KIBANA_API_KEY' : target.username !== undefined ? `user ${JSON.stringify(target.username)} (CRTRAIL_KIBANA_USERNAME/CRTRAIL_KIBANA_PASSWORD)` : 'no credentials (set CRTRAIL_KIBANA_USERNAME/CRTRAIL_KIBANA_PASSWORD or CRTRAIL_KIBANA_API_KEY)';
  return status === 401
    ? new CliError(`Kibana at ${target.url} answered 401 Unauthorized with ${how}`)
    : new CliError(`Kibana at ${target.url} answered 403 Forbidden with ${how}: it needs the right to manage saved objects (index patterns, searches, visualizations, dashboards) in the space`);
}

async function bodyText(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  return shorten(text, 300);
}

/**
 * `GET /api/status`: a Kibana 8 (8.8 or later: the saved objects are in its format) that lets us in.
 * Anything else (a 7.x, an Elasticsearch or another server at the URL) is refused with the reason.
 */
export async function checkKibana(target: KibanaTarget): Promise<string> {
  const base = baseUrl(target);
  const res = await request(target, `${base}/api/status`, { headers: { accept: 'application/json', ...authHeader(target) } });
  if (res.status === 401 || res.status === 403) throw authFailure(res.status, target);
  if (!res.ok) throw new CliError(`${target.url} is not a Kibana: GET /api/status answered ${res.status} ${await bodyText(res)}`);
  let status: { version?: { number?: unknown } };
  try {
    status = (await res.json()) as typeof status;
  } catch {
    throw new CliError(`${target.url} is not a Kibana: GET /api/status did not answer JSON`);
  }
  const version = status?.version?.number;
  if (typeof version !== 'string') throw new CliError(`${target.url} is not a Kibana: GET /api/status has no version.number`);
  const [major, minor] = version.split('.').map(Number);
  if (major !== MIN_KIBANA.major || minor === undefined || minor < MIN_KIBANA.minor) {
    throw new CliError(`Kibana at ${target.url} is ${version}: crtrail's saved objects need Kibana ${MIN_KIBANA.major}.x, ${MIN_KIBANA.major}.${MIN_KIBANA.minor} or later (their format cannot be imported into an older version)`);
  }
  return version;
}

/** `POST /api/saved_objects/_import?overwrite=true` (in the space) with the objects as a multipart `file`. */
export async function importSavedObjects(target: KibanaTarget, objects: readonly SavedObject[]): Promise<ImportResponse> {
  const base = baseUrl(target);
  const form = new FormData();
  form.append('file', new Blob([toNdjson(objects)], { type: 'application/ndjson' }), 'crtrail-saved-objects.ndjson');
  const url = `${base}${spacePath(target.space)}/api/saved_objects/_import?overwrite=true`;
  const res = await request(target, url, { method: 'POST', headers: { 'kbn-xsrf': 'true', ...authHeader(target) }, body: form });
  if (res.status === 401 || res.status === 403) throw authFailure(res.status, target);
  if (res.status === 404 && target.space) throw new CliError(`Kibana at ${target.url} has no space ${JSON.stringify(target.space)} (404 from ${url}): create it, or leave --space out for the default space`);
  if (!res.ok) throw new CliError(`Kibana refused the import: ${res.status} ${await bodyText(res)}`);
  return (await res.json()) as ImportResponse;
}

function describeError(e: NonNullable<ImportResponse['errors']>[number]): string {
  const title = e.meta?.title ?? e.title;
  const what = `${e.type} ${e.id}${title ? ` "${title}"` : ''}`;
  const err = e.error ?? {};
  if (err.type === 'missing_references') return `${what}: missing references ${(err.references ?? []).map((r) => `${r.type} ${r.id}`).join(', ')}`;
  return `${what}: ${err.type ?? 'error'}${err.message ? ` (${err.message})` : ''}`;
}

/** Checks Kibana, imports the objects for `prefix` and reports each one; throws naming every object that failed. */
export async function setupKibana(target: KibanaTarget, prefix: string): Promise<SetupResult> {
  spacePath(target.space); // a bad --space fails before Kibana is asked anything
  const version = await checkKibana(target);
  const objects = kibanaSavedObjects(prefix);
  const answer = await importSavedObjects(target, objects);
  const errors = answer.errors ?? [];
  if (errors.length > 0 || answer.success === false) {
    const lines = errors.map((e) => `  ${describeError(e)}`);
    throw new CliError(`Kibana ${version} refused ${errors.length} of ${objects.length} saved objects:\n${lines.join('\n')}`);
  }
  const byKey = new Map(objects.map((o) => [`${o.type}:${o.id}`, o]));
  const lines = (answer.successResults ?? []).map((r) => {
    const title = r.meta?.title ?? (byKey.get(`${r.type}:${r.id}`)?.attributes.title as string | undefined) ?? '';
    return `${r.overwrite ? 'updated' : 'created'}  ${r.type} ${r.id}${title ? `  "${title}"` : ''}`;
  });
  const missing = objects.length - (answer.successCount ?? lines.length);
  if (missing > 0) throw new CliError(`Kibana ${version} imported ${answer.successCount ?? 0} of ${objects.length} saved objects without naming an error`);
  const dashboardUrl = `${baseUrl(target)}${spacePath(target.space)}/app/dashboards#/view/${objects.find((o) => o.type === 'dashboard')?.id ?? ''}`;
  return { version, lines, dashboardUrl };
}
