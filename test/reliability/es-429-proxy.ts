import { createServer, request, type IncomingMessage, type Server } from 'node:http';

/**
 * An HTTP proxy in front of the real Elasticsearch that answers a share of `_bulk` requests with the
 * 429 an overloaded cluster sends (`es_rejected_execution_exception`: its write thread pool queue is
 * full), without forwarding them; everything else goes through untouched.
 */
export interface Es429Proxy {
  url: string;
  /** Bulk requests seen / answered 429. */
  stats: { bulk: number; rejected: number };
  setShare(share: number): void;
  close(): Promise<void>;
}

const REJECTION = JSON.stringify({
  error: {
    root_cause: [
      { type: 'es_rejected_execution_exception', reason: 'rejected execution of coordinating operation [write]' },
    ],
    type: 'es_rejected_execution_exception',
    reason: 'rejected execution of coordinating operation [write]',
  },
  status: 429,
});

export async function startEs429Proxy(target: string, share: number): Promise<Es429Proxy> {
  const upstream = new URL(target);
  let rejectShare = share;
  const stats = { bulk: 0, rejected: 0 };
  // Deterministic storm: of every 10 bulk requests, the first round(share × 10) are refused.
  let n = 0;
  const server: Server = createServer((req: IncomingMessage, res) => {
    const isBulk = /\/_bulk(\?|$)/.test(req.url ?? '');
    if (isBulk) {
      stats.bulk++;
      const slot = n++ % 10;
      if (slot < Math.round(rejectShare * 10)) {
        stats.rejected++;
        req.resume();
        req.once('end', () => {
          res.writeHead(429, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
          res.end(REJECTION);
        });
        return;
      }
    }
    const forward = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(err.message);
    });
    req.pipe(forward);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    setShare(s: number) {
      rejectShare = s;
    },
    close() {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
