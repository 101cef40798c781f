import { Flags } from '@oclif/core';
import { exportFailures } from '@qlip/export';
import type { QLIPModel } from '@qlip/model';
import { QlipCommand, QUIT_NOW } from './base.js';
import { noteModel, resolveModelDir } from './model.js';

/** `--out` and `--overwrite`, shared by the export commands. */
export const exportOutFlags = {
  out: Flags.string({
    char: 'o',
    description: 'output folder (created; must be empty unless --overwrite; never the model folder)',
    required: true,
  }),
  overwrite: Flags.boolean({ description: "replace the export's files in a non-empty --out" }),
};

/** What every checked export of @qlip/export takes from the command: the model note and the report lines. */
export interface ExportHooks {
  onModel: (model: QLIPModel) => Promise<void>;
  onLine: (line: string) => void;
}

/** A `qlip export` command: resolve the model, run one checked export of @qlip/export, exit 3 if a check failed. */
export abstract class ExportCommand extends QlipCommand {
  protected async runExport<R extends { verification?: { problems: string[] } }>(
    flags: { backend: string; model: string },
    failure: string,
    run: (modelDir: string, hooks: ExportHooks) => Promise<R>,
  ): Promise<R> {
    await this.initBackend(flags.backend);
    const modelDir = await resolveModelDir(flags.model);
    const hooks: ExportHooks = {
      onModel: (model) => noteModel(flags.model, modelDir, model),
      onLine: (line) => this.log(line),
    };
    // Output is staged and renamed: a stop signal quits at once, leaving nothing partial.
    const result = await this.withInterrupt(() => run(modelDir, hooks), QUIT_NOW);
    const failed = exportFailures(result);
    if (failed.length) this.error(`${failure}:\n${failed.join('\n')}`, { exit: 3 });
    return result;
  }
}
