import { setTimeout as sleep } from 'node:timers/promises';
import { clearRunState, isAlive, signalGroup, type RunState } from './run-state.js';

const DOWN_GRACE_MS = 60_000;

async function waitGone(pids: number[], ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (pids.every((p) => !isAlive(p))) return true;
    await sleep(250);
  }
  return pids.every((p) => !isAlive(p));
}

/**
 * `crtrail down`: stops what the `up` of `state` started. `say` hears each process as it is told
 * to stop; whatever outlives the grace period is killed.
 */
export async function stopRunning(state: RunState, say: (line: string) => void): Promise<void> {
  // The up process drains batches and stops its children itself, in order.
  if (isAlive(state.pid)) {
    say(`stopping crtrail up (pid ${state.pid})…`);
    process.kill(state.pid, 'SIGTERM');
    await waitGone([state.pid], DOWN_GRACE_MS);
  }
  // What is still there was left behind (a crash, a second Ctrl-C): stop it directly.
  const left = [...state.workers.map((w) => ({ name: 'worker', pid: w.pid })), ...state.services].filter((p) =>
    isAlive(p.pid),
  );
  for (const p of left) {
    say(`stopping ${p.name} (pid ${p.pid})…`);
    signalGroup(p.pid, 'SIGTERM');
  }
  if (
    !(await waitGone(
      left.map((p) => p.pid),
      DOWN_GRACE_MS,
    ))
  ) {
    for (const p of left.filter((x) => isAlive(x.pid))) signalGroup(p.pid, 'SIGKILL');
  }
  clearRunState(state.pid);
}
