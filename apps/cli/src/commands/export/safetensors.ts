import { Flags } from '@oclif/core';
import { exportSafetensorsChecked, type SafetensorsExportReport } from '@qlip/export';
import { ExportCommand, exportOutFlags } from '../../lib/export.js';

export default class ExportSafetensors extends ExportCommand {
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
    ...exportOutFlags,
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

  async run(): Promise<SafetensorsExportReport> {
    const { flags } = await this.parse(ExportSafetensors);
    return this.runExport(flags, 'the export does not reproduce the model', (modelDir, hooks) =>
      exportSafetensorsChecked(modelDir, flags.out, {
        name: flags.name,
        dtype: flags.dtype.toUpperCase() as 'F32' | 'F16' | 'BF16',
        overwrite: flags.overwrite,
        verify: flags.verify,
        ...hooks,
      }),
    );
  }
}
