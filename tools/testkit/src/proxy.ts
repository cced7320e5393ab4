import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a real server (Elasticsearch, Redis) that a test can cut: `down()` drops
 * every open connection and refuses new ones, `up()` lets traffic through again. Fault injection on
 * the real thing, not a mock.
 */
export interface TcpProxy {
  port: number;
  url: (scheme?: string) => string;
  down(): void;
  up(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  let isUp = true;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (!isUp) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: targetHost, port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const down = (): void => {
    isUp = false;
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  return {
    port,
    url: (scheme = 'http') => `${scheme}://127.0.0.1:${port}`,
    down,
    up() {
      isUp = true;
    },
    close() {
      down();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
