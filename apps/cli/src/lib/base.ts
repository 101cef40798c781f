import { Command, Flags } from '@oclif/core';
import { BACKEND_CHOICES, type BackendInfo, selectBackend } from '@qlip/core';
import { loadRuntime, type RuntimeJob, resolveModelDir } from './model.js';
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
   * The lifecycle every model-running command shares: select the backend (tfjs runtime), load the model
   * (`--model` or the shipped checkpoint) as a runtime, draw progress, turn Ctrl-C into an abort, and
   * release everything whatever happens.
   */
  protected async withRuntime<T>(
    flags: { model?: string; runtime: string; backend: string },
    job: (ctx: RuntimeJob) => Promise<T>,
  ): Promise<T> {
    if (flags.runtime === 'tfjs') await this.initBackend(flags.backend);
    const modelDir = resolveModelDir(flags.model);
    const loaded = await loadRuntime(modelDir, flags.runtime);
    const progress = createProgressRenderer();
    const interrupt = interruptSignal((m) => this.note(m));
    try {
      return await job({
        runtime: loaded.runtime,
        modelDir,
        onProgress: progress.listener,
        signal: interrupt.signal,
      });
    } finally {
      progress.stop();
      interrupt.release();
      loaded.dispose();
    }
  }

  protected async initBackend(requested: string): Promise<BackendInfo> {
    const info = await selectBackend(requested);
    this.note(`backend: ${info.name} (${info.detail})`);
    return info;
  }
}

/**
 * An AbortSignal that fires on the first Ctrl-C (jobs finish their current batch and write what they
 * have); a second Ctrl-C exits at once.
 */
export function interruptSignal(note: (m: string) => void): { signal: AbortSignal; release(): void } {
  const ac = new AbortController();
  const onInt = () => {
    if (ac.signal.aborted) process.exit(130);
    note('interrupted: finishing the current batch and saving (Ctrl-C again to quit now)');
    ac.abort();
  };
  process.on('SIGINT', onInt);
  return { signal: ac.signal, release: () => process.off('SIGINT', onInt) };
}
