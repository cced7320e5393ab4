import { esNodeUrls } from '@crtrail/config';
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
  // CRTRAIL_ES_URL may list a cluster's nodes: the cluster answers when any of its nodes does.
  const nodes = esNodeUrls(esUrl);
  if (nodes.length > 1) {
    const errors: string[] = [];
    for (const node of nodes) {
      const probe = await probeElasticsearch(node, headers, timeoutMs);
      if (probe.ok) return probe;
      errors.push(`${node}: ${probe.error ?? probe.status}`);
    }
    return { ok: false, error: errors.join('; ') };
  }
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
