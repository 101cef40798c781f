import { constants as osConstants } from 'node:os';
import { Command, Flags } from '@oclif/core';
import {
  BACKEND_CHOICES,
  type BackendChoice,
  type BackendInfo,
  DEFAULT_MAX_FILE_BYTES,
  describeSkips,
  type SkipSummary,
  withImageAudit,
} from '@qlip/core';
import { type Background, InputWarnings, type Precision, QLIP, type RuntimeChoice } from 'qlip';
import { selectCliBackend } from './backend.js';
import { exitStatus, type JsonError, suggestFlags, toJsonError } from './errors.js';
import type { RuntimeJob } from './model.js';
import { createProgressRenderer } from './progress.js';

/**
 * Base of every qlip command: `--json` (oclif's enableJsonFlag: the typed result goes to stdout as
 * JSON), `--backend`, and logging that always goes to stderr so stdout carries only results.
 */
export abstract class QlipCommand extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    backend: Flags.string({
      description: 'compute backend (auto tries native TensorFlow, then wasm, then cpu); env QLIP_BACKEND',
      options: [...BACKEND_CHOICES],
      env: 'QLIP_BACKEND',
      default: 'auto',
      helpGroup: 'GLOBAL',
    }),
  };

  /** Progress and logs: stderr, never stdout. */
  protected note(message: string): void {
    this.logToStderr(message);
  }

  /**
   * What the run left out, by reason, with the first few named (the full counts are in `--json`'s
   * `skipped`). Nothing a command skips goes unmentioned.
   */
  protected reportSkips(s: SkipSummary): void {
    if (s.total === 0) return;
    this.note(describeSkips(s));
    for (const k of s.first) this.note(`  ${k.path}: ${k.detail}`);
    if (s.total > s.first.length) this.note(`  ... and ${s.total - s.first.length} more`);
  }

  /**
   * The lifecycle every model-running command shares, over the library API: select the runtime (`auto`:
   * ONNX Runtime on an export cached once per model, else tfjs on the selected backend), load the model with `QLIP.fromPretrained` (`--model` directory or hub id, or the shipped
   * checkpoint), say which model it is, draw progress, watch the inputs (downscaling, transparency), turn
   * Ctrl-C into an abort, and release everything whatever happens.
   * @param opts.needsTfjs why this run needs tfjs (`auto` then skips ONNX Runtime and says so)
   */
  protected async withRuntime<T>(
    flags: {
      model?: string;
      runtime: string;
      backend: string;
      background?: string;
      precision?: string;
      'agreement-images'?: number;
    },
    job: (ctx: RuntimeJob) => Promise<T>,
    opts: { needsTfjs?: string } = {},
  ): Promise<T> {
    if (flags.runtime === 'tfjs') await this.initBackend(flags.backend);
    // Straight to stderr, also under --json: which model ran, its licence and input warnings always show.
    const say = (m: string) => process.stderr.write(`${m}\n`);
    const progress = createProgressRenderer();
    let q: QLIP;
    try {
      q = await QLIP.fromPretrained(flags.model, {
        runtime: flags.runtime as RuntimeChoice,
        ...(flags.precision ? { precision: flags.precision as Precision } : {}),
        agreementImages: flags['agreement-images'],
        needsTfjs: opts.needsTfjs,
        backend: flags.backend as BackendChoice,
        ...(flags.background ? { background: flags.background as Background } : {}),
        onProgress: progress.listener,
        log: say,
      });
    } finally {
      progress.stop();
    }
    say(q.describe());
    const inputs = new InputWarnings(q.info.imageSize, q.preprocessing.alpha, say);
    const ctx = { runtime: q.runtime, modelDir: q.info.dir, model: q.info, alpha: q.preprocessing.alpha };
    try {
      return await this.withInterrupt((signal) =>
        withImageAudit(inputs.record, () => job({ ...ctx, onProgress: progress.listener, signal })),
      );
    } finally {
      progress.stop();
      for (const line of inputs.summary()) say(line);
      q.dispose();
    }
  }

  /**
   * Run `job` with SIGINT/SIGTERM/SIGHUP turned into its AbortSignal (see `interruptSignal`). When a signal
   * stopped the run, the job's (partial) result is still returned and printed (`--json` too), and the process
   * exits with the signal's status (130, 143, 129) so `qlip ... && next` does not go on after a partial run.
   */
  protected async withInterrupt<T>(job: (signal: AbortSignal) => Promise<T>, what?: string): Promise<T> {
    // Straight to stderr: oclif silences logToStderr under --json, and a signal note must always show.
    const interrupt = interruptSignal((m) => process.stderr.write(`${m}\n`), what);
    try {
      return await job(interrupt.signal);
    } finally {
      interrupt.release();
      if (interrupt.received) {
        process.exitCode = signalExitCode(interrupt.received);
        process.stderr.write(`stopped by ${interrupt.received}: exit status ${process.exitCode}\n`);
      }
    }
  }

  /**
   * Exit status of a failure is the same with and without `--json`: oclif's JSON path ignores the exit code
   * given to `this.error(..., { exit })` and uses 1.
   */
  override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    suggestFlags(err, [...Object.keys({ ...this.ctor.baseFlags, ...this.ctor.flags }), 'json']);
    if (this.jsonEnabled()) process.exitCode = exitStatus(err);
    return super.catch(err);
  }

  /** Under `--json` a failure is one small object on stdout (see `JsonError`), never oclif's parser dump. */
  protected override toErrorJson(err: unknown): JsonError {
    return toJsonError(err);
  }

  protected async initBackend(requested: string): Promise<BackendInfo> {
    const info = await selectCliBackend(requested);
    this.note(`backend: ${info.name} (${info.detail})`);
    return info;
  }
}

/** `--max-file-bytes`, for commands that read image files. */
export const maxFileBytesFlag = Flags.integer({
  description: `largest input file read, in bytes (checked from its size before reading; larger files are skipped and reported)`,
  default: DEFAULT_MAX_FILE_BYTES,
  min: 1,
});

/** The signals a qlip command treats as "stop cleanly": Ctrl-C, `kill`/`docker stop`/schedulers, a closed terminal. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** The conventional exit status of a run stopped by `sig`: 128 + its number (SIGINT 130, SIGTERM 143, SIGHUP 129). */
export function signalExitCode(sig: StopSignal): number {
  return 128 + osConstants.signals[sig];
}

/** `what` for jobs that are atomic as a whole (exports): the first signal exits at once, nothing half-written stays. */
export const QUIT_NOW = 'quit now';

export interface Interruption {
  /** Fires on the first stop signal: jobs finish their current step, write what they have and return. */
  readonly signal: AbortSignal;
  /** The signal that stopped the run, if any. */
  readonly received: StopSignal | undefined;
  release(): void;
}

/**
 * Turn SIGINT, SIGTERM and SIGHUP into an AbortSignal: the first one prints a note and aborts (the job
 * finishes its current batch or step and saves); a second one exits at once with the signal's status.
 * @param what what the job does on the first signal, for the note (e.g. "finishing the current batch and saving");
 *   `QUIT_NOW` exits on the first signal (the job's output is staged and renamed, so nothing partial is left)
 */
export function interruptSignal(
  note: (m: string) => void,
  what = 'finishing the current batch and saving',
): Interruption {
  const ac = new AbortController();
  let received: StopSignal | undefined;
  const handlers = STOP_SIGNALS.map((sig) => {
    const h = () => {
      if (received) {
        note(`${sig} again: quitting now`);
        process.exit(signalExitCode(sig));
      }
      received = sig;
      if (what === QUIT_NOW) {
        note(`${sig} received: stopping now`);
        process.exit(signalExitCode(sig));
      }
      note(`${sig} received: ${what} (send it again to quit now)`);
      ac.abort(sig);
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  return {
    signal: ac.signal,
    get received() {
      return received;
    },
    release: () => {
      for (const [sig, h] of handlers) process.off(sig, h);
    },
  };
}
