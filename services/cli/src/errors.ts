/**
 * How a crtrail command ends when it does not succeed. A command throws a {@link CliError}; the
 * binary prints its message as one `crtrail: …` line and exits with its status. Nothing else in
 * the CLI sets an exit status.
 */

/** The exit statuses crtrail documents (README, `verify --help`). */
export const EXIT = Object.freeze({
  /** The command failed, or what it checked or sent was broken or refused. */
  failed: 1,
  /**
   * `verify` only: nothing could be checked (no file, no records, an unreachable service, a bad key
   * or argument). A cron job must be able to tell this from "checked and broken" (1).
   */
  nothingChecked: 2,
});

export class CliError extends Error {
  override readonly name = 'CliError';
  /** The command has already printed why (a report, a summary): no further line is printed. */
  readonly reported: boolean;

  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
    options: { cause?: unknown; reported?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reported = options.reported === true;
  }
}

/** Nothing could be checked (exit 2): the error `verify` throws before it has a verdict. */
export function nothingChecked(message: string): CliError {
  return new CliError(message, EXIT.nothingChecked);
}

/**
 * Ends a command whose output already says what went wrong (a BROKEN report, rejected events):
 * exit `exitCode` without another line. `why` is for a caller that catches it, not for the terminal.
 */
export function failedAsReported(why: string, exitCode: number = EXIT.failed): CliError {
  return new CliError(why, exitCode, { reported: true });
}

/**
 * What the binary does with anything a command throws: the line to print (none when the command
 * has reported already) and the exit status. Any other error (a library's, a bug) is one line and 1.
 */
export function failureOf(err: unknown): { line: string | undefined; exitCode: number } {
  if (err instanceof CliError) return { line: err.reported ? undefined : err.message, exitCode: err.exitCode };
  const message = (err as { message?: unknown } | null)?.message;
  return { line: typeof message === 'string' && message !== '' ? message : String(err), exitCode: EXIT.failed };
}
