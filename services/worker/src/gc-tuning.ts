import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets a worker process's old generation grow past what the last full GC kept before it
 * starts the next one (`--heap-growing-percent`): 50 = to 1.5 times. V8 derives its own factor from
 * the heap limit and, for a limit as small as the sizing rule's (288 MB), stays near its minimum:
 * full GCs came at 1.3–1.6 × the ~45 MB live heap, every ~250 ms, as the worker's held jobs were
 * promoted, and V8's helper threads spent 0.5–0.6 ms of CPU per change marking beside the main
 * thread's 0.7–0.9. Drains of 6,117 changes, 3 alternated rounds (bench/ANALYSIS.md, session 7):
 * worker CPU per change 1.33 by default, 1.13 at 50, 1.09 at 100; peak RSS in the 3 × 20 MB case
 * 247–263 MB by default, 258–277 at 50, 283–296 at 100 (the target is 300). The heap limit still
 * bounds the heap: near it V8 collects early whatever the factor.
 */
const WORKER_HEAP_GROWING_PERCENT = 50;

/**
 * Tunes the garbage collector of a process that is only a worker (`crtrail up --worker-only`), not
 * of one that also runs the webhook, whose acks want short full GCs and which holds nothing across
 * scavenges. V8 reads the flag whenever it sets the next GC's limit, so it applies from here on.
 */
export function tuneWorkerProcessGc(): void {
  setFlagsFromString(`--heap-growing-percent=${WORKER_HEAP_GROWING_PERCENT}`);
}
