import { didYouMean } from '@qlip/core';

/** The one object a failed command prints on stdout under `--json`. */
export interface JsonError {
  error: {
    /** What went wrong, as the plain-text error says it. */
    message: string;
    /** `usage` (bad flags, arguments or command), `unknown_flag`, `unknown_command`, or `error`. */
    code: string;
    /** The process's exit status: 2 for usage errors, 130/143/129 for signals, else 1. */
    exit: number;
    /** Commands or flags the user probably meant. */
    suggestions?: string[];
  };
}

type OclifError = Error & {
  oclif?: { exit?: number };
  exitCode?: number;
  parse?: unknown;
  flags?: string[];
  code?: string;
  suggestions?: string[];
  /** Set by `suggestFlags` (not oclif's `suggestions`: the message already names them in a terminal). */
  didYouMean?: string[];
};

/** oclif's parse errors (bad flags/arguments) carry the parser's input; they are usage errors. */
export function isUsageError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'parse' in err;
}

/**
 * For an unknown-flag error, name the closest flags of the command ("did you mean --out?") in the
 * message and in `suggestions`; other errors pass through.
 */
export function suggestFlags(err: OclifError, flagNames: readonly string[]): void {
  if (!Array.isArray(err.flags) || !isUsageError(err)) return;
  const hints: string[] = [];
  for (const given of err.flags) {
    const name = given.replace(/^-+/, '').replace(/=.*$/, '');
    const hint = didYouMean(name, flagNames);
    if (hint) hints.push(`--${hint}`);
  }
  if (hints.length === 0) return;
  err.message = err.message.replace(
    /^(Nonexistent flags?: [^\n]*)/,
    `$1 (did you mean ${hints.join(', ')}?)`,
  );
  err.didYouMean = hints;
}

/** The exit status of a failed command: the error's own, 2 for a usage error, else 1. */
export function exitStatus(err: OclifError): number {
  const code = err.oclif?.exit ?? err.exitCode;
  if (typeof code === 'number') return code;
  return isUsageError(err) ? 2 : 1;
}

/** One compact JSON error (oclif's default serialises the parser's whole context: thousands of lines). */
export function toJsonError(err: unknown): JsonError {
  const e = (err instanceof Error ? err : new Error(String(err))) as OclifError;
  const exit = exitStatus(e);
  let code = typeof e.code === 'string' && e.code !== '' ? e.code : 'error';
  if (exit === 2 || isUsageError(e)) code = 'usage';
  if (Array.isArray(e.flags)) code = 'unknown_flag';
  return {
    error: {
      // oclif's parse errors end with a hint that only makes sense in a terminal, and split a flag's
      // name from its fault with a newline and a tab.
      message: e.message.replace(/\nSee more help with --help$/, '').replace(/\s*\n\t/g, ': '),
      code,
      exit,
      ...(e.didYouMean?.length ? { suggestions: e.didYouMean } : {}),
    },
  };
}

/**
 * Last-resort handler of `bin/run.js`. On a terminal it is oclif's (wrapped to the window, help after a
 * usage error). Piped or redirected, the message is printed whole: oclif wraps at 80 columns when stderr
 * is not a TTY, splitting paths and suggested commands that scripts and users copy.
 */
export async function handleCliError(
  err: unknown,
  oclifHandle: (err: Error) => Promise<void>,
): Promise<void> {
  const e = (err instanceof Error ? err : new Error(String(err))) as OclifError & {
    skipOclifErrorHandling?: boolean;
  };
  if (process.stderr.isTTY) return oclifHandle(e);
  const silent = e.code === 'EEXIT' || e.skipOclifErrorHandling === true;
  if (!silent) {
    const lines = [`Error: ${e.message}`];
    if (e.suggestions?.length) lines.push(`Try this: ${e.suggestions.join(' | ')}`);
    process.stderr.write(`${lines.join('\n')}\n`);
  }
  process.exitCode = e.code === 'EEXIT' ? (e.oclif?.exit ?? 0) : exitStatus(e);
}
