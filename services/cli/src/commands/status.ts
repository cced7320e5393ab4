import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { clearRunState, isAlive, readRunState, runStateFile, signalGroup, type RunState } from '../ops/run-state.js';

const DOWN_GRACE_MS = 60_000;

function lines(state: RunState): string[] {
  const mark = (pid: number) => (isAlive(pid) ? 'running' : 'gone');
  return [
    `crtrail up    pid ${state.pid} (${mark(state.pid)}), started ${state.startedAt}`,
    ...(state.webhook ? [`webhook       ${state.webhook}`] : []),
    ...state.workers.map((w, i) => `worker ${i}      pid ${w.pid} (${mark(w.pid)})${w.metrics ? ` ${w.metrics}` : ''}`),
    ...state.services.map((s) => `${s.name.padEnd(13)} pid ${s.pid} (${mark(s.pid)}), started by crtrail up`),
  ];
}

async function waitGone(pids: number[], ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (pids.every((p) => !isAlive(p))) return true;
    await sleep(250);
  }
  return pids.every((p) => !isAlive(p));
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('what a previous `crtrail up` (npm start) left running: webhook, workers, the Redis and Elasticsearch it started')
    .action(() => {
      const state = readRunState();
      if (!state) {
        process.stdout.write('nothing started by crtrail up is running\n');
        return;
      }
      for (const l of lines(state)) process.stdout.write(`${l}\n`);
      const all = [state.pid, ...state.workers.map((w) => w.pid), ...state.services.map((s) => s.pid)];
      if (all.every((p) => !isAlive(p))) process.stdout.write(`(all gone; ${runStateFile()} is stale: npx crtrail down removes it)\n`);
    });

  program
    .command('down')
    .description('stop what a previous `crtrail up` started: the up process drains and stops its children; what it left behind is stopped too')
    .action(async () => {
      const state = readRunState();
      if (!state) {
        process.stdout.write('nothing started by crtrail up is running\n');
        return;
      }
      // The up process drains batches and stops its children itself, in order.
      if (isAlive(state.pid)) {
        process.stderr.write(`stopping crtrail up (pid ${state.pid})…\n`);
        process.kill(state.pid, 'SIGTERM');
        await waitGone([state.pid], DOWN_GRACE_MS);
      }
      // What is still there was left behind (a crash, a second Ctrl-C): stop it directly.
      const left = [...state.workers.map((w) => ({ name: 'worker', pid: w.pid })), ...state.services].filter((p) => isAlive(p.pid));
      for (const p of left) {
        process.stderr.write(`stopping ${p.name} (pid ${p.pid})…\n`);
        signalGroup(p.pid, 'SIGTERM');
      }
      if (!(await waitGone(left.map((p) => p.pid), DOWN_GRACE_MS))) {
        for (const p of left.filter((x) => isAlive(x.pid))) signalGroup(p.pid, 'SIGKILL');
      }
      clearRunState(state.pid);
      process.stdout.write('stopped\n');
    });
}
