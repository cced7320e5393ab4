/**
 * Bytes of request bodies being parsed and admitted at once. A body is small until JSON.parse turns
 * it into objects, and its kept events into job bytes: a 20 MB EventList takes ~80 MB more while it
 * is admitted. The event loop parses one body at a time anyway, but the waits for Redis between
 * parsing and the ack let every big body received expand at once (3 × 20 MB batches: 410 MB of
 * webhook RSS, bench "big batches"). Bodies wait here, first come first served, until their bytes fit
 * with the others': small batches pass side by side, big ones one after the other (each acked as
 * soon as it is stored, instead of all three at the end). A body bigger than the budget is admitted
 * alone.
 */
export class BodyBudget {
  private used = 0;
  private readonly queue: Array<{ bytes: number; go: () => void }> = [];

  constructor(private readonly limit: number) {
    if (!(limit >= 1)) throw new Error('BodyBudget: the limit must be >= 1');
  }

  /** Resolves when `bytes` fit; the caller must {@link release} them exactly once. */
  acquire(bytes: number): Promise<void> {
    if (this.queue.length === 0 && this.fits(bytes)) {
      this.used += bytes;
      return Promise.resolve();
    }
    return new Promise((go) => {
      this.queue.push({ bytes, go });
    });
  }

  release(bytes: number): void {
    this.used -= bytes;
    for (let next = this.queue[0]; next !== undefined && this.fits(next.bytes); next = this.queue[0]) {
      this.queue.shift();
      this.used += next.bytes;
      next.go();
    }
  }

  /** Bodies waiting for room. */
  get waiting(): number {
    return this.queue.length;
  }

  private fits(bytes: number): boolean {
    return this.used === 0 || this.used + bytes <= this.limit;
  }
}
