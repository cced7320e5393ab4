import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureEsUser, ensureElasticsearchInstalled, ES_VERSION, findJavaHome, isRoot } from './elasticsearch.js';
import { freeTcpPort, killNode, waitFor } from './nodes.js';
import { cacheDir } from './paths.js';
import { run, spawnManaged, type Managed } from './process.js';

export interface EsClusterOptions {
  /** Nodes, all master-eligible data nodes. Default 3. */
  nodes?: number;
  /** Heap of each node. Default 256m (enough for tests; three fit next to the shared node). */
  heap?: string;
  log?: (m: string) => void;
}

export interface EsNode {
  name: string;
  url: string;
  httpPort: number;
  transportPort: number;
  process: Managed;
  logFile: string;
  alive: boolean;
}

/** A running Elasticsearch cluster on 127.0.0.1. */
export interface EsClusterSetup {
  nodes: EsNode[];
  /** CRTRAIL_ES_URL: every node, comma-separated. */
  url: string;
  /** SIGKILLs one node (launcher and JVM). */
  kill(node: EsNode): Promise<void>;
  /** Waits until a living node reports `status` (default green) with `count` nodes (default: the living ones). */
  waitHealth(status?: 'green' | 'yellow', count?: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const START_DEADLINE_MS = 300_000;

/**
 * The unpacked distribution `npm start` uses (under CRTRAIL_CACHE_DIR, or the temp fallback when the
 * Elasticsearch user cannot reach the cache), fetched with Maven only when none is there. It is
 * only read: each node gets its own copy of `config/` (ES_PATH_CONF), data, logs and temp folders.
 */
async function distribution(log: (m: string) => void): Promise<string> {
  for (const root of [cacheDir(), join(tmpdir(), 'crtrail-cache')]) {
    const home = join(root, `elasticsearch-${ES_VERSION}`);
    if (existsSync(join(home, 'bin', 'elasticsearch'))) return home;
  }
  return ensureElasticsearchInstalled(cacheDir(), log);
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function health(url: string): Promise<{ status: string; number_of_nodes: number }> {
  const res = await fetch(new URL('/_cluster/health', url), { signal: AbortSignal.timeout(3_000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as { status: string; number_of_nodes: number };
}

/**
 * Starts an Elasticsearch cluster of `nodes` nodes from the fetched distribution: own cluster name,
 * distinct http/transport ports, `discovery.seed_hosts` + `cluster.initial_master_nodes`, security
 * off like the single node, small heaps; as the Elasticsearch user when we are root. Waits for green.
 */
export async function startElasticsearchCluster(options: EsClusterOptions = {}): Promise<EsClusterSetup> {
  const count = options.nodes ?? 3;
  const heap = options.heap ?? '256m';
  const log = options.log ?? (() => {});
  const home = await distribution(log);
  const ids = isRoot() ? ensureEsUser(log) : undefined;
  const root = mkdtempSync(join(tmpdir(), 'crtrail-escluster-'));
  // mkdtemp makes it 0700: the Elasticsearch user must be able to enter it.
  chmodSync(root, 0o755);
  const clusterName = `crtrail-test-${root.slice(-6).toLowerCase()}`;
  const ports = await Promise.all(
    Array.from({ length: count }, async () => ({ http: await freeTcpPort(), transport: await freeTcpPort() })),
  );
  const names = ports.map((_, i) => `node-${i}`);
  const javaHome = findJavaHome();
  const nodes: EsNode[] = [];
  // Nodes that exited on their own (not killed or stopped): a start that cannot succeed any more.
  const exits = new Map<EsNode, number | null>();
  const living = (): EsNode[] => nodes.filter((n) => n.alive);
  const stopAll = async (): Promise<void> => {
    await Promise.all(
      living().map(async (n) => {
        n.alive = false;
        await n.process.stop();
      }),
    );
    rmSync(root, { recursive: true, force: true });
  };
  const waitHealth = async (
    status: 'green' | 'yellow' = 'green',
    want?: number,
    timeoutMs = START_DEADLINE_MS,
  ): Promise<void> => {
    await waitFor(
      `Elasticsearch cluster ${status}`,
      async () => {
        const dead = nodes.find((n) => n.alive && exits.has(n));
        if (dead)
          throw new Error(`${dead.name} exited (code ${exits.get(dead)}); last log lines:\n${tail(dead.logFile)}`);
        const node = living()[0];
        if (!node) throw new Error('no node running');
        const h = await health(node.url);
        const ok = status === 'green' ? h.status === 'green' : h.status !== 'red';
        return ok && h.number_of_nodes === (want ?? living().length);
      },
      timeoutMs,
      1_000,
    );
  };
  try {
    for (let i = 0; i < count; i++) {
      const dir = join(root, names[i]!);
      const conf = join(dir, 'config');
      for (const sub of ['data', 'logs', 'tmp']) mkdirSync(join(dir, sub), { recursive: true });
      cpSync(join(home, 'config'), conf, { recursive: true });
      if (ids) {
        const chown = run('chown', ['-R', `${ids.uid}:${ids.gid}`, dir]);
        if (chown.status !== 0) throw new Error(`could not give the Elasticsearch user ${dir}: ${chown.stderr}`);
      }
      const logFile = join(dir, 'logs', 'stdout.log');
      const out = openSync(logFile, 'a');
      const proc = spawnManaged(
        `elasticsearch-${names[i]}`,
        join(home, 'bin', 'elasticsearch'),
        [
          `-Ecluster.name=${clusterName}`,
          `-Enode.name=${names[i]}`,
          '-Enetwork.host=127.0.0.1',
          `-Ehttp.port=${ports[i]!.http}`,
          `-Etransport.port=${ports[i]!.transport}`,
          `-Ediscovery.seed_hosts=${ports.map((p) => `127.0.0.1:${p.transport}`).join(',')}`,
          `-Ecluster.initial_master_nodes=${names.join(',')}`,
          '-Expack.security.enabled=false',
          `-Epath.data=${join(dir, 'data')}`,
          `-Epath.logs=${join(dir, 'logs')}`,
          '-Ecluster.routing.allocation.disk.threshold_enabled=false',
          '-Eaction.destructive_requires_name=false',
        ],
        {
          cwd: home,
          env: {
            PATH: process.env.PATH,
            ES_JAVA_HOME: javaHome,
            ES_JAVA_OPTS: `-Xms${heap} -Xmx${heap}`,
            ES_PATH_CONF: conf,
            ES_TMPDIR: join(dir, 'tmp'),
            HOME: dir,
          },
          stdio: ['ignore', out, out],
          ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
        },
      );
      const node: EsNode = {
        name: names[i]!,
        url: `http://127.0.0.1:${ports[i]!.http}`,
        httpPort: ports[i]!.http,
        transportPort: ports[i]!.transport,
        process: proc,
        logFile,
        alive: true,
      };
      void proc.exited.then((code) => {
        if (node.alive) exits.set(node, code);
      });
      nodes.push(node);
    }
    log(
      `starting a ${count}-node Elasticsearch cluster ${clusterName} on ${nodes.map((n) => n.httpPort).join(', ')} (logs under ${root})`,
    );
    await waitHealth('green', count);
    log(`Elasticsearch cluster ${clusterName} is green with ${count} nodes`);
  } catch (err) {
    await stopAll();
    throw err;
  }
  return {
    nodes,
    url: nodes.map((n) => n.url).join(','),
    async kill(node) {
      node.alive = false;
      await killNode(node.process);
    },
    waitHealth,
    stop: stopAll,
  };
}
