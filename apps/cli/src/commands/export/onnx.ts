import { Flags } from '@oclif/core';
import {
  exportOnnxChecked,
  ONNX_ATTENTIONS,
  ONNX_PRECISIONS,
  type OnnxAttention,
  type OnnxExportReport,
  type OnnxPrecision,
  type UnifiedOnnxExportReport,
} from '@qlip/export';
import { ExportCommand, exportOutFlags } from '../../lib/export.js';

export default class ExportOnnx extends ExportCommand {
  static override summary =
    'Export a model to ONNX: image -> indices + embedding, indices -> pixels, ids -> text embedding';
  static override description =
    `Writes image_encoder.onnx, decoder.onnx, text_encoder.onnx (opset 17, dynamic batch, weights as
initializers; <graph>.onnx.data past --external-data-mb) and qlip-onnx.json into OUT, atomically. Then runs
every graph in ONNX Runtime against the tfjs model (indices identical, floats within 1e-4) and, when python3-onnx
is installed, onnx.checker.check_model(full_check=True). Put OUT at <model>/onnx for --runtime onnx.
On a unified model (config.json model_type "qlip-unified") it writes unified_embed.onnx, unified_decoder.onnx
(past key/values in, present out), unified_text_head.onnx, unified_image_head.onnx and unified-onnx.json, and
checks that a seeded generation and greedy captions give identical tokens in ONNX Runtime (docs/unified.md).
--precision int8 writes dynamically quantised transformer blocks (DynamicQuantizeLinear + MatMulInteger,
per-channel int8 weights: standard ONNX ops, lower precision); verification then reports how many indices
and bits agree with the fp32 model instead of requiring identity. --attention ort writes ONNX Runtime's
com.microsoft.MultiHeadAttention (other runtimes and onnx.checker reject it).`;
  static override examples = [
    '<%= config.bin %> export onnx --model my-model --out my-model/onnx --json',
    '<%= config.bin %> export onnx --model my-model --out my-model-int8 --precision int8',
  ];
  static override flags = {
    model: Flags.string({
      char: 'm',
      description:
        'QLIP model directory (Hugging Face layout) or hub id org/name[@revision], or a unified model directory',
      required: true,
    }),
    ...exportOutFlags,
    'external-data-mb': Flags.integer({
      description: "store a graph's weights in <graph>.onnx.data above this size (MiB; 0 = always)",
      default: 256,
      min: 0,
    }),
    precision: Flags.string({
      description:
        'fp32, or int8: dynamically quantised transformer blocks (lower precision; indices may differ from fp32)',
      options: [...ONNX_PRECISIONS],
      default: 'fp32',
    }),
    attention: Flags.string({
      description:
        'standard (MatMul/Softmax, any runtime) or ort (com.microsoft.MultiHeadAttention: ONNX Runtime only)',
      options: [...ONNX_ATTENTIONS],
      default: 'standard',
    }),
    verify: Flags.boolean({
      description: 'check the exported graphs (ONNX Runtime vs tfjs, onnx.checker)',
      default: true,
      allowNo: true,
    }),
  };

  async run(): Promise<OnnxExportReport | UnifiedOnnxExportReport> {
    const { flags } = await this.parse(ExportOnnx);
    return this.runExport(flags, 'exported graphs failed verification', (modelDir, hooks) =>
      exportOnnxChecked(modelDir, flags.out, {
        externalDataThreshold: flags['external-data-mb'] * 2 ** 20,
        producerVersion: this.config.version,
        overwrite: flags.overwrite,
        verify: flags.verify,
        precision: flags.precision as OnnxPrecision,
        attention: flags.attention as OnnxAttention,
        ...hooks,
      }),
    );
  }
}
