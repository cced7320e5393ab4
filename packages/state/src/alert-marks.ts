import type { RedisClient } from '@crtrail/queue';
import { keysFor, type StateKeys } from './keys.js';
import { luaScript } from './lua.js';

const routeScript = luaScript('alert-route-3.lua');
const takeScript = luaScript('alert-take-2.lua');

/**
 * What {@link AlertMarks.route} decided for one alert: `2` it was sent already; `1` send it now (it
 * opens its object's window, or there is no grouping); `0` it joined the open window, which closes in
 * `leftMs` and is named by `window` (the record id that opened it).
 */
export type AlertRoute = [verdict: 2] | [verdict: 1] | [verdict: 0, leftMs: number, window: string];

/**
 * The Redis side of alert delivery, once per record: the sent markers and the group windows of
 * `<prefix>:alerts:*`. Sending itself (sinks, the alert queue) is the worker's.
 */
export class AlertMarks {
  private readonly k: StateKeys;
  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.k = keysFor(redis, prefix);
  }

  /** Decides, atomically, whether `alertJson` of `recordId` is sent now, joins its object's window, or was sent already. */
  async route(sink: string, group: string, recordId: string, windowMs: number, alertJson: string): Promise<AlertRoute> {
    const { k } = this;
    return (await routeScript(
      this.redis,
      [k.alertSent(sink, recordId), k.alertWindow(sink, group), k.alertGroup(sink, group)],
      [recordId, windowMs, alertJson],
    )) as AlertRoute;
  }

  /** The alerts of a closing window (moved aside once, so a retried flush finds the same ones). */
  async take(sink: string, group: string, window: string): Promise<string[]> {
    return (await takeScript(
      this.redis,
      [this.k.alertGroup(sink, group), this.k.alertFlushing(sink, group, window)],
      [],
    )) as string[];
  }

  /** The window's flush is done: its moved-aside alerts are dropped. */
  async flushed(sink: string, group: string, window: string): Promise<void> {
    await this.redis.del(this.k.alertFlushing(sink, group, window));
  }

  /** Notes `recordIds` as delivered to `sink` for `ttlSeconds` (one MULTI). */
  async markSent(sink: string, recordIds: readonly string[], ttlSeconds: number): Promise<void> {
    const m = this.redis.multi();
    for (const id of recordIds) m.set(this.k.alertSent(sink, id), '1', 'EX', ttlSeconds);
    await m.exec();
  }

  /** For each of `recordIds`, whether its alert was delivered to `sink` already. */
  async sent(sink: string, recordIds: readonly string[]): Promise<boolean[]> {
    if (recordIds.length === 0) return [];
    const seen = await this.redis.mget(...recordIds.map((id) => this.k.alertSent(sink, id)));
    return seen.map((v) => v !== null);
  }
}
