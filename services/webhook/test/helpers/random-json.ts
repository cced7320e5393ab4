/** Random JSON values for the body tests: the awkward parts (brackets, quotes and backslashes inside strings, non-ASCII, nesting). */
export { prng } from '../../../../test/fixtures/lifecycle.js';

/** A random JSON value with the awkward parts: brackets, quotes and backslashes inside strings, non-ASCII, nesting. */
export function randomValue(rand: () => number, depth: number): unknown {
  const r = rand();
  if (depth <= 0 || r < 0.3) {
    const pick = Math.floor(rand() * 6);
    if (pick === 0) return Math.floor(rand() * 1e6) / (rand() < 0.5 ? 1 : 100);
    if (pick === 1) return rand() < 0.5;
    if (pick === 2) return null;
    const pieces = ['a', '"', '\\', '{', '}', '[', ']', ',', ':', 'é', '😀', '\n', 'items', ' '];
    let s = '';
    for (let i = Math.floor(rand() * 8); i > 0; i--) s += pieces[Math.floor(rand() * pieces.length)];
    return s;
  }
  if (r < 0.65) return Array.from({ length: Math.floor(rand() * 4) }, () => randomValue(rand, depth - 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(rand() * 4); i > 0; i--) o[`k${Math.floor(rand() * 10)}"]`] = randomValue(rand, depth - 1);
  return o;
}
