import { Flags } from '@oclif/core';
import { exportSafetensors, type SafetensorsVerification, verifySafetensorsExport } from '@qlip/export';
import { QLIPModel } from '@qlip/model';
import { QlipCommand, QUIT_NOW } from '../../lib/base.js';
import { noteModel, resolveModelDir } from '../../lib/model.js';

export interface ExportSafetensorsResult {
  dir: string;
  parameters: number;
  files: { name: string; bytes: number }[];
  verification?: SafetensorsVerification;
}

export default class ExportSafetensors extends QlipCommand {
  static override summary =
    'Export a model in the official Hugging Face QLIP layout (config, safetensors, tokenizer, preprocessor, card)';
  static override description =
    `Writes config.json, model.safetensors (float32 by default, official names), vocab.json, merges.txt,
tokenizer_config.json, special_tokens_map.json, preprocessor_config.json (CLIP mean/std, bicubic resize, centre
crop) and a README.md model card into OUT, atomically, so NVIDIA's code and Python users load it. Then re-loads
the export and checks that its outputs are identical.`;
  static override examples = [
    '<%= config.bin %> export safetensors --model runs/exp1/final --out release/ --json',
  ];
  static override flags = {
    model: Flags.string({
      char: 'm',
      description:
        'QLIP model directory: config.json + model.safetensors (a trainer step checkpoint works too), or hub id org/name[@revision]',
      required: true,
    }),
    out: Flags.string({
      char: 'o',
      description: 'output folder (created; must be empty unless --overwrite; never the model folder)',
      required: true,
    }),
    overwrite: Flags.boolean({ description: "replace the export's files in a non-empty --out" }),
    name: Flags.string({ description: 'model name for the model card', default: 'QLIP' }),
    dtype: Flags.string({
      description: 'weight precision: f32 keeps every bit; f16/bf16 halve the file (loading widens them)',
      options: ['f32', 'f16', 'bf16'],
      default: 'f32',
    }),
    verify: Flags.boolean({
      description: 're-load the export and compare outputs',
      default: true,
      allowNo: true,
    }),
  };

  async run(): Promise<ExportSafetensorsResult> {
    const { flags } = await this.parse(ExportSafetensors);
    await this.initBackend(flags.backend);
    const modelDir = await resolveModelDir(flags.model);
    const model = await QLIPModel.load(modelDir);
    await noteModel(flags.model, modelDir, model);
    try {
      const dtype = flags.dtype.toUpperCase() as 'F32' | 'F16' | 'BF16';
      const r = await this.withInterrupt(
        () =>
          exportSafetensors(model, flags.out, {
            name: flags.name,
            dtype,
            overwrite: flags.overwrite,
            sourceDir: modelDir,
          }),
        QUIT_NOW,
      );
      const result: ExportSafetensorsResult = {
        dir: r.dir,
        parameters: r.parameters,
        files: r.files.map((f) => ({ name: f.name, bytes: f.bytes })),
      };
      for (const f of r.files) this.log(`${f.path}  ${(f.bytes / 2 ** 20).toFixed(2)} MiB`);
      if (flags.verify) {
        result.verification = await verifySafetensorsExport(model, r.dir, { dtype });
        const ok = dtype === 'F32' ? 'identical outputs' : `within ${flags.dtype} rounding`;
        this.log(`re-load check: ${result.verification.passed ? ok : 'FAILED'}`);
        if (!result.verification.passed) {
          this.error(`the export does not reproduce the model:\n${result.verification.problems.join('\n')}`, {
            exit: 3,
          });
        }
      }
      return result;
    } finally {
      model.dispose();
    }
  }
}
