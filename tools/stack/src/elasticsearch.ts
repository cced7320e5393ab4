import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  realpathSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cacheDir } from './paths.js';
import { probeElasticsearch } from './probe.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasCommand, run, runWithProgress, spawnManaged, type Managed } from './process.js';

/** The distribution verified on this project's machines: a Maven artifact, no bundled JDK. */
export const ES_VERSION = '8.19.7';
export const ES_ARTIFACT = `org.elasticsearch.distribution.integ-test-zip:elasticsearch:${ES_VERSION}:zip`;
/** Elasticsearch refuses to run as root; when we are root we run it as this system user. */
export const ES_USER = 'crtrail-es';
const ES_HEAP = '1g';
const ES_READY_DEADLINE_MS = 180_000;
const ES_POLL_MS = 1_000;

export interface EsHandle {
  url: string;
  started?: Managed;
  logFile?: string;
}

type Log = (m: string) => void;

/** The JDK Elasticsearch runs on: ES_JAVA_HOME, else the `java` on the PATH (the system JDK 17). */
export function findJavaHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ES_JAVA_HOME && existsSync(join(env.ES_JAVA_HOME, 'bin', 'java'))) return env.ES_JAVA_HOME;
  const which = run('sh', ['-c', 'command -v java']);
  if (which.status !== 0) throw new Error('no Java found: install OpenJDK 17 or set ES_JAVA_HOME');
  return dirname(dirname(realpathSync(which.stdout.trim())));
}

/** Folder of the unpacked distribution, fetched with Maven on first use. */
export async function ensureElasticsearchInstalled(root: string, log: Log): Promise<string> {
  const home = join(root, `elasticsearch-${ES_VERSION}`);
  if (existsSync(join(home, 'bin', 'elasticsearch'))) return home;
  if (!hasCommand('mvn')) throw new Error('Elasticsearch is not running and Maven (mvn) is missing to fetch it');
  const downloads = join(root, 'downloads');
  mkdirSync(downloads, { recursive: true });
  log(`fetching Elasticsearch ${ES_VERSION} (${ES_ARTIFACT}, ~93 MiB) with Maven, once…`);
  const mvn = await runWithProgress(
    'mvn',
    ['-q', '-B', 'dependency:copy', `-Dartifact=${ES_ARTIFACT}`, `-DoutputDirectory=${downloads}`],
    (s) => log(`still fetching Elasticsearch with Maven (${s} s)…`),
  );
  const zip = join(downloads, `elasticsearch-${ES_VERSION}.zip`);
  if (mvn.status !== 0 || !existsSync(zip)) {
    throw new Error(`could not fetch ${ES_ARTIFACT} with Maven:\n${(mvn.stdout + mvn.stderr).slice(-2000)}`);
  }
  log('unpacking Elasticsearch…');
  const unzip = hasCommand('unzip')
    ? run('unzip', ['-q', '-o', zip, '-d', root])
    : run('jar', ['xf', zip], { cwd: root });
  if (unzip.status !== 0 || !existsSync(join(home, 'bin', 'elasticsearch'))) {
    throw new Error(`could not unpack ${zip}: ${unzip.stderr}`);
  }
  // `jar` does not keep the executable bit.
  for (const f of readdirSync(join(home, 'bin'))) run('chmod', ['+x', join(home, 'bin', f)]);
  return home;
}

/** Whether this process runs as root (Elasticsearch must then run as {@link ES_USER}). */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** The uid/gid of {@link ES_USER}, created as a system user when missing. */
export function ensureEsUser(log: Log): { uid: number; gid: number } {
  let id = run('id', ['-u', ES_USER]);
  if (id.status !== 0) {
    log(`creating system user ${ES_USER} (Elasticsearch refuses to run as root)`);
    const add = run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', ES_USER]);
    if (add.status !== 0) throw new Error(`could not create user ${ES_USER}: ${add.stderr}`);
    id = run('id', ['-u', ES_USER]);
  }
  const gid = run('id', ['-g', ES_USER]);
  return { uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Whether the ES user can reach `path` (every parent folder must be searchable by "others"). */
function reachableBy(user: string, path: string): boolean {
  return run('runuser', ['-u', user, '--', 'test', '-r', path]).status === 0;
}

/** Picks the cache root: `<repo>/.cache`, or a temp folder when the ES user cannot reach the repo. */
function esRoot(asUser: boolean, log: Log): string {
  const preferred = cacheDir();
  mkdirSync(preferred, { recursive: true });
  if (!asUser || reachableBy(ES_USER, preferred)) return preferred;
  const fallback = join(tmpdir(), 'crtrail-cache');
  log(`${ES_USER} cannot read ${preferred}; using ${fallback} for Elasticsearch`);
  mkdirSync(fallback, { recursive: true });
  return fallback;
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Fetches (Maven), unpacks and starts a single-node Elasticsearch on the port of `url`, data and
 * logs under the cache folder, and waits until the cluster is yellow or green.
 */
export async function startElasticsearch(url: string, log: Log = () => {}): Promise<EsHandle> {
  const u = new URL(url);
  const port = u.port || '9200';
  const asUser = isRoot();
  const ids = asUser ? ensureEsUser(log) : undefined;
  const root = esRoot(asUser, log);
  const home = await ensureElasticsearchInstalled(root, log);
  const data = join(root, `es-data-${port}`);
  const logs = join(root, `es-logs-${port}`);
  mkdirSync(data, { recursive: true });
  mkdirSync(logs, { recursive: true });
  if (ids) {
    const chown = run('chown', ['-R', `${ids.uid}:${ids.gid}`, home, data, logs]);
    if (chown.status !== 0) throw new Error(`could not give ${ES_USER} the Elasticsearch folders: ${chown.stderr}`);
  }
  const javaHome = findJavaHome();
  const logFile = join(logs, 'stdout.log');
  const out = openSync(logFile, 'a');
  accessSync(join(home, 'bin', 'elasticsearch'), constants.X_OK);
  log(`starting Elasticsearch ${ES_VERSION} on ${url} (logs: ${logFile})`);
  const managed = spawnManaged(
    'elasticsearch',
    join(home, 'bin', 'elasticsearch'),
    [
      '-Ediscovery.type=single-node',
      '-Expack.security.enabled=false',
      '-Enetwork.host=127.0.0.1',
      `-Ehttp.port=${port}`,
      `-Epath.data=${data}`,
      `-Epath.logs=${logs}`,
      // Shared CI disks can be nearly full; a read-only index would stall every test.
      '-Ecluster.routing.allocation.disk.threshold_enabled=false',
      // Tests delete their own `<prefix>-*` indices by pattern.
      '-Eaction.destructive_requires_name=false',
    ],
    {
      cwd: home,
      env: {
        PATH: process.env.PATH,
        ES_JAVA_HOME: javaHome,
        ES_JAVA_OPTS: `-Xms${ES_HEAP} -Xmx${ES_HEAP}`,
        ES_TMPDIR: join(root, `es-tmp-${port}`),
        ...(ids ? { HOME: root } : { HOME: process.env.HOME }),
      },
      stdio: ['ignore', out, out],
      ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
    },
  );
  mkdirSync(join(root, `es-tmp-${port}`), { recursive: true });
  if (ids) run('chown', ['-R', `${ids.uid}:${ids.gid}`, join(root, `es-tmp-${port}`)]);
  const deadline = Date.now() + ES_READY_DEADLINE_MS;
  let exitCode: number | null | undefined;
  void managed.exited.then((c) => {
    exitCode = c;
  });
  while (Date.now() < deadline) {
    if (exitCode !== undefined) {
      throw new Error(`Elasticsearch exited (code ${exitCode}) while starting; last log lines:\n${tail(logFile)}`);
    }
    const probe = await probeElasticsearch(url, {}, 2000);
    if (probe.ok) {
      log(`Elasticsearch is ${probe.status} on ${url}`);
      return { url, started: managed, logFile };
    }
    await sleep(ES_POLL_MS);
  }
  await managed.stop();
  throw new Error(
    `Elasticsearch did not become ready within ${ES_READY_DEADLINE_MS / 1000}s; last log lines:\n${tail(logFile)}`,
  );
}

/** Uses the Elasticsearch at `url` if it answers, otherwise (local URLs only) fetches and starts one. */
export async function ensureElasticsearch(
  url: string,
  headers: Record<string, string> = {},
  log: Log = () => {},
): Promise<EsHandle> {
  // CRTRAIL_ES_URL may list the nodes of a cluster (comma-separated): that cluster is someone else's,
  // used when any node answers and never started here.
  const nodes = url.split(',').map((n) => n.trim());
  if (nodes.length > 1) {
    const errors: string[] = [];
    for (const node of nodes) {
      const p = await probeElasticsearch(node, headers);
      if (p.ok) {
        log(`using the Elasticsearch cluster at ${url} (${node} is ${p.status})`);
        return { url };
      }
      errors.push(`${node}: ${p.error ?? p.status}`);
    }
    throw new Error(
      `no node of the Elasticsearch cluster answers (${errors.join('; ')}); check CRTRAIL_ES_URL and its credentials`,
    );
  }
  const probe = await probeElasticsearch(url, headers);
  if (probe.ok) {
    log(`using Elasticsearch at ${url} (${probe.status})`);
    return { url };
  }
  const u = new URL(url);
  if (!['127.0.0.1', 'localhost'].includes(u.hostname)) {
    throw new Error(
      `Elasticsearch at ${url} does not answer (${probe.error ?? probe.status}); check CRTRAIL_ES_URL and its credentials`,
    );
  }
  if (probe.error && /^HTTP (401|403)/.test(probe.error)) {
    throw new Error(
      `Elasticsearch at ${url} refused us (${probe.error}); set CRTRAIL_ES_USERNAME/PASSWORD or CRTRAIL_ES_API_KEY`,
    );
  }
  return startElasticsearch(url, log);
}
