import { connect } from 'node:net';

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Sends a RESP PING to Redis and resolves true on `+PONG` (or an auth error, which still proves a
 * Redis is there), false when nothing answers within `timeoutMs`. Avoids loading ioredis just to probe.
 */
export function pingRedis(redisUrl: string, timeoutMs = 1000): Promise<boolean> {
  const u = new URL(redisUrl);
  return new Promise((resolveProbe) => {
    const socket = connect({ host: u.hostname || '127.0.0.1', port: Number(u.port || 6379) });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolveProbe(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.on('data', (d) => done(/^(\+PONG|-NOAUTH|-WRONGPASS)/.test(d.toString())));
  });
}

export interface EsProbe {
  ok: boolean;
  status?: string;
  error?: string;
}

/**
 * Probes `GET /_cluster/health`: the integ-test distribution has no `GET /` handler, so the usual
 * root probe would answer 405 even on a healthy node.
 */
export async function probeElasticsearch(
  esUrl: string,
  headers: Record<string, string> = {},
  timeoutMs = 2000,
): Promise<EsProbe> {
  try {
    const res = await fetch(new URL('/_cluster/health', esUrl), {
      headers,
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) return { ok: false, error: `HTTP ${res.status}` };
    const body = (await res.json()) as { status?: string };
    return { ok: body.status === 'green' || body.status === 'yellow', status: body.status };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}
