import { connect } from 'node:net';

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
