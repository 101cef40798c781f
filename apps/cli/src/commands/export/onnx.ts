import { Flags } from '@oclif/core';
import {
  checkOnnxModels,
  exportOnnx,
  exportUnifiedOnnx,
  type OnnxCheckerResult,
  type OnnxExportResult,
  type OnnxVerification,
  type UnifiedOnnxVerification,
  verifyOnnxExport,
  verifyUnifiedOnnx,
} from '@qlip/export';
import { QLIPModel } from '@qlip/model';
import { MODEL_TYPE, UnifiedModel } from '@qlip/unified';
import { QlipCommand, QUIT_NOW } from '../../lib/base.js';
import { noteModel, resolveModelDir } from '../../lib/model.js';

export interface ExportOnnxResult {
  dir: string;
  opset: number;
  files: { name: string; bytes: number }[];
  graphs: OnnxExportResult['graphs'];
  verification?: OnnxVerification;
  checker?: OnnxCheckerResult;
}

export interface ExportUnifiedOnnxResult {
  dir: string;
  kind: 'unified';
  files: { name: string; bytes: number }[];
  graphs: { graph: string; file: string; nodes: number; initializers: number }[];
  verification?: UnifiedOnnxVerification;
  checker?: OnnxCheckerResult;
}

/** Whether `dir/config.json` describes a unified model (`model_type: "qlip-unified"`). */
async function isUnifiedModel(dir: string): Promise<boolean> {
  const { readFile } = await import('node:fs/promises');
  try {
    return (
      (JSON.parse(await readFile(`${dir}/config.json`, 'utf8')) as { model_type?: string }).model_type ===
      MODEL_TYPE
    );
  } catch {
    return false;
  }
}

export default class ExportOnnx extends QlipCommand {
  static override summary =
    'Export a model to ONNX: image -> indices + embedding, indices -> pixels, ids -> text embedding';
  static override description =
    `Writes image_encoder.onnx, decoder.onnx, text_encoder.onnx (opset 17, dynamic batch, weights as
initializers; <graph>.onnx.data past --external-data-mb) and qlip-onnx.json into OUT, atomically. Then runs
every graph in ONNX Runtime against the tfjs model (indices identical, floats within 1e-4) and, when python3-onnx
is installed, onnx.checker.check_model(full_check=True). Put OUT at <model>/onnx for --runtime onnx.
On a unified model (config.json model_type "qlip-unified") it writes unified_embed.onnx, unified_decoder.onnx
(past key/values in, present out), unified_text_head.onnx, unified_image_head.onnx and unified-onnx.json, and
checks that a seeded generation and greedy captions give identical tokens in ONNX Runtime (docs/unified.md).`;
  static override examples = ['<%= config.bin %> export onnx --model my-model --out my-model/onnx --json'];
  static override flags = {
    model: Flags.string({
      char: 'm',
      description:
        'QLIP model directory (Hugging Face layout) or hub id org/name[@revision], or a unified model directory',
      required: true,
    }),
    out: Flags.string({
      char: 'o',
      description: 'output folder (created; must be empty unless --overwrite; never the model folder)',
      required: true,
    }),
    overwrite: Flags.boolean({ description: "replace the export's files in a non-empty --out" }),
    'external-data-mb': Flags.integer({
      description: "store a graph's weights in <graph>.onnx.data above this size (MiB; 0 = always)",
      default: 256,
      min: 0,
    }),
    verify: Flags.boolean({
      description: 'check the exported graphs (ONNX Runtime vs tfjs, onnx.checker)',
      default: true,
      allowNo: true,
    }),
  };

  async run(): Promise<ExportOnnxResult | ExportUnifiedOnnxResult> {
    const { flags } = await this.parse(ExportOnnx);
    await this.initBackend(flags.backend);
    const modelDir = await resolveModelDir(flags.model);
    if (await isUnifiedModel(modelDir))
      return this.exportUnified(modelDir, flags.out, flags.verify, flags.overwrite);
    const model = await QLIPModel.load(modelDir);
    await noteModel(flags.model, modelDir, model);
    try {
      const r = await this.withInterrupt(
        () =>
          exportOnnx(model, flags.out, {
            externalDataThreshold: flags['external-data-mb'] * 2 ** 20,
            producerVersion: this.config.version,
            overwrite: flags.overwrite,
            sourceDir: modelDir,
          }),
        QUIT_NOW,
      );
      const result: ExportOnnxResult = {
        dir: r.dir,
        opset: r.opset,
        files: r.files.map((f) => ({ name: f.name, bytes: f.bytes })),
        graphs: r.graphs,
      };
      for (const f of r.files) this.log(`${f.path}  ${(f.bytes / 2 ** 20).toFixed(2)} MiB`);
      if (flags.verify) {
        result.verification = await verifyOnnxExport(model, r.dir);
        const d = result.verification.maxAbsDiff;
        this.log(
          `ONNX Runtime vs tfjs: ${result.verification.passed ? 'passed' : 'FAILED'} (index mismatches ${result.verification.indexMismatches ?? 0}, max float diff ${Math.max(...Object.values(d))})`,
        );
        result.checker = await checkOnnxModels(
          r.dir,
          r.graphs.map((g) => g.file),
        );
        this.log(`onnx.checker: ${result.checker.status} (${result.checker.detail})`);
        const failed = [
          ...result.verification.problems,
          ...(result.checker.status === 'failed' ? [result.checker.detail] : []),
        ];
        if (failed.length)
          this.error(`exported graphs failed verification:\n${failed.join('\n')}`, { exit: 3 });
      }
      return result;
    } finally {
      model.dispose();
    }
  }

  /** A unified model: the four step graphs (docs/unified.md), verified by identical tokens in ONNX Runtime. */
  private async exportUnified(
    dir: string,
    out: string,
    verify: boolean,
    overwrite: boolean,
  ): Promise<ExportUnifiedOnnxResult> {
    const model = await UnifiedModel.load(dir);
    try {
      const r = await this.withInterrupt(
        () =>
          exportUnifiedOnnx(model, out, { producerVersion: this.config.version, overwrite, sourceDir: dir }),
        QUIT_NOW,
      );
      for (const f of r.files) this.log(`${f.path}  ${(f.bytes / 2 ** 20).toFixed(2)} MiB`);
      const result: ExportUnifiedOnnxResult = {
        dir: r.dir,
        kind: 'unified',
        files: r.files.map((f) => ({ name: f.name, bytes: f.bytes })),
        graphs: r.graphs,
      };
      if (!verify) return result;
      result.verification = await verifyUnifiedOnnx(model, r.dir);
      this.log(
        `ONNX Runtime vs tfjs: ${result.verification.passed ? 'passed' : 'FAILED'} (seeded generation and greedy captions, identical tokens)`,
      );
      result.checker = await checkOnnxModels(
        r.dir,
        r.graphs.map((g) => g.file),
      );
      this.log(`onnx.checker: ${result.checker.status} (${result.checker.detail})`);
      const failed = [
        ...result.verification.problems,
        ...(result.checker.status === 'failed' ? [result.checker.detail] : []),
      ];
      if (failed.length)
        this.error(`exported graphs failed verification:\n${failed.join('\n')}`, { exit: 3 });
      return result;
    } finally {
      model.dispose();
    }
  }
}
