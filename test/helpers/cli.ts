import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '@crtrail/stack';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `crtrail` bin as a user would (a separate process). */
export function runCli(args: string[], env: Record<string, string> = {}, input?: string): Promise<CliResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [join(repoRoot(), 'services', 'cli', 'bin', 'crtrail.js'), ...args], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolveRun({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** Starts the real `crtrail` bin as a long-running process (e.g. `up --worker-only`), output kept for diagnosis. */
export function spawnCli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [join(repoRoot(), 'services', 'cli', 'bin', 'crtrail.js'), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  return {
    child,
    output: () => output,
    exited: new Promise<number | null>((r) => child.on('exit', (code) => r(code))),
  };
}
