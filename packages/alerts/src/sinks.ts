import { shorten } from '@crtrail/audit';
import type { AlertChange, AlertMessage } from './payload.js';
import { objectLabel } from './payload.js';
import type { ResolvedSink } from './rules.js';

/** An HTTP request a sink is sent: the URL and the JSON body. */
export interface SinkRequest {
  url: string;
  body: unknown;
}

/**
 * A delivery that did not succeed. `retryable`: a 5xx, 408, 429 or a network error (try again later);
 * otherwise (another 4xx) the receiver refused the message and retries would not help. The message
 * never contains the sink's URL: Slack's is a credential.
 */
export class SinkError extends Error {
  readonly code = 'CRTRAIL_ERR_ALERT_SINK';
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'SinkError';
  }
}

const json = (v: unknown): string => (v === undefined ? '∅' : JSON.stringify(v));

function changeLine(c: AlertChange): string {
  return `${c.path}: ${json(c.old)} → ${json(c.new)}${c.truncated ? ' (cut)' : ''}`;
}

/** The generic webhook body: the message as JSON, with a kind and a version to dispatch on. */
export function webhookBody(m: AlertMessage): unknown {
  return { kind: 'crtrail.alert', version: 1, ...m };
}

const SLACK_TEXT_MAX = 2_900;
/** Slack's limits (and the error line's) count every character, the `…` too. */
const FIT = { fit: true } as const;
/** Slack mrkdwn treats `&`, `<` and `>` as control characters. */
const slackEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A Slack incoming-webhook body: `text` (the notification) and Block Kit blocks. */
export function slackBody(m: AlertMessage): unknown {
  const a = m.alert;
  const title = a.rules.map((r) => r.description).join('; ');
  const actor = [a.actor.name, a.actor.kind, a.actor.tool, a.actor.sourceIP].filter(Boolean).join(' · ');
  const changes = a.change.ops.map((c) => `\`${slackEscape(changeLine(c))}\``).join('\n');
  const more =
    a.change.ops_total > a.change.ops.length ? `\n…and ${a.change.ops_total - a.change.ops.length} more` : '';
  const links = [
    a.links.record ? `<${a.links.record}|record>` : '',
    a.links.timeline ? `<${a.links.timeline}|object timeline>` : '',
  ]
    .filter(Boolean)
    .join(' · ');
  const context = [
    `record \`${a.record_id}\``,
    `rules: ${a.rules.map((r) => r.name).join(', ')}`,
    ...(m.count > 1 ? [`${m.count} changes to this object within ${m.window_seconds ?? 0}s (latest shown)`] : []),
    ...(links ? [links] : []),
  ];
  return {
    text: shorten(`crtrail: ${a.summary}`, SLACK_TEXT_MAX, FIT),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: shorten(`crtrail: ${title}`, 150, FIT) } },
      { type: 'section', text: { type: 'mrkdwn', text: shorten(slackEscape(a.summary), SLACK_TEXT_MAX, FIT) } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: `*Cluster*\n${slackEscape(a.cluster)}` },
          { type: 'mrkdwn', text: `*Object*\n${slackEscape(objectLabel(a))}` },
          { type: 'mrkdwn', text: `*Actor*\n${slackEscape(actor)}` },
          {
            type: 'mrkdwn',
            text: `*Verb / outcome*\n${a.verb} / ${a.outcome}${a.status_code !== undefined ? ` (${a.status_code})` : ''}`,
          },
        ],
      },
      ...(changes
        ? [
            {
              type: 'section',
              text: { type: 'mrkdwn', text: shorten(`*Changes*\n${changes}${more}`, SLACK_TEXT_MAX, FIT) },
            },
          ]
        : []),
      {
        type: 'context',
        elements: context.map((text) => ({ type: 'mrkdwn', text: shorten(text, SLACK_TEXT_MAX, FIT) })),
      },
    ],
  };
}

/** Alertmanager's API v2 endpoint from the configured URL (its base, or the endpoint itself). */
export function alertmanagerEndpoint(url: string): string {
  return /\/api\/v2\/alerts\/?$/.test(url) ? url : `${url.replace(/\/+$/, '')}/api/v2/alerts`;
}

/**
 * An Alertmanager API v2 body (`POST /api/v2/alerts`): an array of one alert. `record_id` is a label, so
 * Alertmanager keeps each record's alert apart (its labels are its identity) and a resend of the same
 * record refreshes the same alert instead of making another.
 */
export function alertmanagerBody(m: AlertMessage): unknown[] {
  const a = m.alert;
  const allLabels: Record<string, string> = {
    alertname: 'CrtrailChange',
    severity: a.change.critical || a.outcome === 'failure' ? 'critical' : 'warning',
    rule: a.rules[0]?.name ?? 'change',
    cluster: a.cluster,
    group: a.object.group,
    kind: a.object.kind ?? a.object.resource ?? '',
    namespace: a.object.namespace ?? '',
    name: a.object.name ?? '',
    actor: a.actor.name,
    actor_kind: a.actor.kind,
    verb: a.verb,
    outcome: a.outcome,
    record_id: a.record_id,
  };
  const annotations: Record<string, string> = {
    summary: a.summary,
    description: a.change.ops.map(changeLine).join('\n'),
    rules: a.rules.map((r) => r.name).join(','),
    record_ids: m.record_ids.join(','),
    count: String(m.count),
    ...(a.actor.tool ? { tool: a.actor.tool } : {}),
    ...(a.actor.sourceIP ? { source_ip: a.actor.sourceIP } : {}),
    ...(a.links.record ? { record_url: a.links.record } : {}),
    ...(a.links.timeline ? { timeline_url: a.links.timeline } : {}),
  };
  // Alertmanager reads an empty label as no label: left out rather than sent empty.
  const labels = Object.fromEntries(Object.entries(allLabels).filter(([, v]) => v !== ''));
  return [
    {
      labels,
      annotations,
      startsAt: a.time || new Date().toISOString(),
      ...(a.links.record ? { generatorURL: a.links.record } : {}),
    },
  ];
}

/** The request a message makes for a sink type. */
export function sinkRequest(sink: Pick<ResolvedSink, 'type' | 'url'>, m: AlertMessage): SinkRequest {
  switch (sink.type) {
    case 'slack':
      return { url: sink.url, body: slackBody(m) };
    case 'alertmanager':
      return { url: alertmanagerEndpoint(sink.url), body: alertmanagerBody(m) };
    case 'webhook':
      return { url: sink.url, body: webhookBody(m) };
  }
}

/** How long one delivery may take before it counts as failed (and is retried). */
export const SINK_TIMEOUT_MS = 10_000;

/**
 * POSTs a message to a sink (node's fetch). Resolves on any 2xx; throws a {@link SinkError} otherwise.
 * Redirects are not followed: a receiver that moved is a configuration error to fix, not to chase.
 */
export async function sendToSink(sink: ResolvedSink, m: AlertMessage, timeoutMs = SINK_TIMEOUT_MS): Promise<void> {
  const req = sinkRequest(sink, m);
  let res: Response;
  try {
    res = await fetch(req.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'crtrail-alerts' },
      body: JSON.stringify(req.body),
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    throw new SinkError(`sink ${sink.name}: not reached (${cause})`, true);
  }
  // The body is read so the connection can be reused, and kept short for the error message.
  const text = await res.text().catch(() => '');
  if (res.status >= 200 && res.status < 300) return;
  const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
  throw new SinkError(
    `sink ${sink.name}: answered ${res.status}${text ? ` ${shorten(text.replace(/\s+/g, ' '), 200, FIT)}` : ''}`,
    retryable,
    res.status,
  );
}
