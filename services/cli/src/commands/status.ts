import type { Command } from 'commander';
import { stopRunning } from '../ops/down.js';
import { isAlive, readRunState, runStateFile, type RunState } from '../ops/run-state.js';

function lines(state: RunState): string[] {
  const mark = (pid: number) => (isAlive(pid) ? 'running' : 'gone');
  return [
    `crtrail up    pid ${state.pid} (${mark(state.pid)}), started ${state.startedAt}`,
    ...(state.webhook ? [`webhook       ${state.webhook}`] : []),
    ...state.workers.map((w, i) => `worker ${i}      pid ${w.pid} (${mark(w.pid)})${w.metrics ? ` ${w.metrics}` : ''}`),
    ...state.services.map((s) => `${s.name.padEnd(13)} pid ${s.pid} (${mark(s.pid)}), started by crtrail up`),
  ];
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description(
      'what a previous `crtrail up` (npm start) left running: webhook, workers, the Redis and Elasticsearch it started',
    )
    .action(() => {
      const state = readRunState();
      if (!state) {
        process.stdout.write('nothing started by crtrail up is running\n');
        return;
      }
      for (const l of lines(state)) process.stdout.write(`${l}\n`);
      const all = [state.pid, ...state.workers.map((w) => w.pid), ...state.services.map((s) => s.pid)];
      if (all.every((p) => !isAlive(p)))
        process.stdout.write(`(all gone; ${runStateFile()} is stale: npx crtrail down removes it)\n`);
    });

  program
    .command('down')
    .description(
      'stop what a previous `crtrail up` started: the up process drains and stops its children; what it left behind is stopped too',
    )
    .action(async () => {
      const state = readRunState();
      if (!state) {
        process.stdout.write('nothing started by crtrail up is running\n');
        return;
      }
      await stopRunning(state, (line) => process.stderr.write(`${line}\n`));
      process.stdout.write('stopped\n');
    });
}
