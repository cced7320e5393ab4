/**
 * A progress line on stderr: redrawn in place on a terminal, a plain line every few seconds
 * otherwise (CI logs, files), so long exports show life without flooding a log.
 */
export class Progress {
  private count = 0;
  private expected: number | undefined;
  private readonly started = Date.now();
  private readonly tty = Boolean(process.stderr.isTTY);
  // Nothing is drawn for the first second (terminal) or five (log): a quick run stays quiet.
  private lastDraw = Date.now();
  private drawn = false;

  constructor(private readonly label: string) {}

  total(n: number): void {
    this.expected = n;
  }

  tick(n = 1): void {
    this.count += n;
    const now = Date.now();
    if (now - this.lastDraw >= (this.tty ? (this.drawn ? 200 : 1_000) : 5_000)) {
      this.lastDraw = now;
      this.drawn = true;
      this.draw(false);
    }
  }

  done(): void {
    if (this.drawn) this.draw(true);
  }

  private draw(final: boolean): void {
    const secs = (Date.now() - this.started) / 1000;
    const rate = secs > 0 ? Math.round(this.count / secs) : 0;
    const of = this.expected !== undefined ? `/${this.expected}` : '';
    const pct = this.expected ? ` ${Math.floor((100 * this.count) / this.expected)}%` : '';
    const line = `${this.label}: ${this.count}${of}${pct} records, ${rate}/s`;
    if (this.tty) process.stderr.write(`\r\x1b[2K${line}${final ? '\n' : ''}`);
    else process.stderr.write(`${line}\n`);
  }
}
