/**
 * CPU pinning for `bench:scale`'s per-core figure: `taskset` on running processes (every thread),
 * with their previous affinity put back at the end, on failure, on Ctrl-C and on exit — the
 * Elasticsearch and Redis the bench pins are shared with everything else on the machine.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const run = (args: string[]) => spawnSync('taskset', args, { encoding: 'utf8' });

/** Whether `taskset` (util-linux) can be run here. */
export const hasTaskset = (): boolean => run(['-V']).status === 0;

/** The affinity mask (hex) of one thread, or undefined if it is gone. */
function maskOf(tid: string): string | undefined {
  const m = /:\s*([0-9a-f]+)\s*$/i.exec(run(['-p', tid]).stdout ?? '');
  return m?.[1];
}

const threads = (pid: number): string[] => {
  try {
    return readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
};

/** What to put back: each pinned process's threads and their masks before. */
const saved = new Map<number, Map<string, string>>();

/** Puts back every affinity `pin` changed (synchronous: also runs from the exit handler). */
export function restoreAffinity(): void {
  for (const [pid, masks] of saved) {
    const main = masks.get(String(pid));
    // Threads started while pinned inherited the pinned mask: the process-wide reset covers them.
    if (main) run(['-a', '-p', main, String(pid)]);
    for (const [tid, mask] of masks) if (mask !== main) run(['-p', mask, tid]);
  }
  saved.clear();
}

let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', restoreAffinity);
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      restoreAffinity();
      process.exit(130);
    });
}

/** Pins every thread of `pid` to `cpus` (a taskset list, e.g. "1" or "1-3"); throws if taskset refuses. */
export function pin(pid: number, cpus: string): void {
  hookExit();
  if (!saved.has(pid)) {
    const masks = new Map<string, string>();
    for (const tid of threads(pid)) {
      const m = maskOf(tid);
      if (m) masks.set(tid, m);
    }
    saved.set(pid, masks);
  }
  const r = run(['-a', '-p', '-c', cpus, String(pid)]);
  if (r.status !== 0) throw new Error(`taskset -a -p -c ${cpus} ${pid}: ${r.stderr.trim()}`);
}
