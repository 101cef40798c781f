import { Command, Flags } from '@oclif/core';
import { BACKEND_CHOICES, type BackendInfo, selectBackend } from '@qlip/core';

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
