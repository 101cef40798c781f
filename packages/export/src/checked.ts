import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { QLIPModel } from '@qlip/model';
import { MODEL_TYPE, UnifiedModel } from '@qlip/unified';
import { exportOnnx, type OnnxExportOptions, type OnnxExportResult } from './onnx/export.js';
import { exportUnifiedOnnx, type UnifiedOnnxExportResult } from './onnx/unified.js';
import {
  checkOnnxModels,
  type OnnxCheckerResult,
  type OnnxVerification,
  verifyLowerPrecision,
  verifyOnnxExport,
} from './onnx/verify.js';
import { type UnifiedOnnxVerification, verifyUnifiedOnnx } from './onnx/verify-unified.js';
import {
  exportSafetensors,
  type SafetensorsVerification,
  verifySafetensorsExport,
  type WeightDType,
} from './safetensors.js';
import type { WrittenFile } from './staging.js';

/**
 * Export a model folder and check the result, as `qlip export onnx` / `qlip export safetensors` do: load,
 * write (staged, atomic), then verify the files against the loaded model. The report is the commands' `--json`
 * result; lines a user should see (each file written, each verdict) go to `onLine`. A failed check does not
 * throw: `exportFailures` lists what failed (the CLI exits non-zero on it).
 */

/** A written file as reported: its name in the output folder and its size. */
export interface ReportedFile {
  name: string;
  bytes: number;
}

export interface OnnxExportReport {
  dir: string;
  opset: number;
  files: ReportedFile[];
  graphs: OnnxExportResult['graphs'];
  verification?: OnnxVerification;
  checker?: OnnxCheckerResult;
}

export interface UnifiedOnnxExportReport {
  dir: string;
  kind: 'unified';
  files: ReportedFile[];
  graphs: UnifiedOnnxExportResult['graphs'];
  verification?: UnifiedOnnxVerification;
  checker?: OnnxCheckerResult;
}

export interface SafetensorsExportReport {
  dir: string;
  parameters: number;
  files: ReportedFile[];
  verification?: SafetensorsVerification;
}

interface CheckedOptions {
  /** Check the written files against the model (default true). */
  verify?: boolean;
  /** Replace the export's files in a non-empty output folder. */
  overwrite?: boolean;
  /** Called with the QLIP model once loaded (e.g. to describe it); not called for a unified model. */
  onModel?: (model: QLIPModel) => unknown;
  /** A line for the user: a file written, a verification verdict. */
  onLine?: (line: string) => void;
}

export type OnnxCheckedOptions = CheckedOptions &
  Pick<OnnxExportOptions, 'externalDataThreshold' | 'producerVersion' | 'precision' | 'attention'>;

export interface SafetensorsCheckedOptions extends CheckedOptions {
  /** Model name for the model card. */
  name?: string;
  dtype?: WeightDType;
}

const reported = (files: WrittenFile[]): ReportedFile[] =>
  files.map((f) => ({ name: f.name, bytes: f.bytes }));

function sayFiles(files: WrittenFile[], onLine: (line: string) => void): void {
  for (const f of files) onLine(`${f.path}  ${(f.bytes / 2 ** 20).toFixed(2)} MiB`);
}

/** Every failed check of a report (verification problems, a failed onnx.checker), empty when all passed. */
export function exportFailures(r: {
  verification?: { problems: string[] };
  checker?: OnnxCheckerResult;
}): string[] {
  return [...(r.verification?.problems ?? []), ...(r.checker?.status === 'failed' ? [r.checker.detail] : [])];
}

/** Whether `dir/config.json` describes a unified model (`model_type: "qlip-unified"`). */
async function isUnifiedModel(dir: string): Promise<boolean> {
  try {
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as { model_type?: string };
    return config.model_type === MODEL_TYPE;
  } catch {
    return false;
  }
}

/**
 * ONNX export of the model in `modelDir` into `out`: the three QLIP graphs, verified in ONNX Runtime against
 * the tfjs model and by onnx.checker; or, for a unified model, its four step graphs, verified by identical
 * tokens.
 */
export async function exportOnnxChecked(
  modelDir: string,
  out: string,
  o: OnnxCheckedOptions = {},
): Promise<OnnxExportReport | UnifiedOnnxExportReport> {
  if (await isUnifiedModel(modelDir)) {
    if ((o.precision ?? 'fp32') !== 'fp32' || (o.attention ?? 'standard') !== 'standard')
      throw new Error(`${modelDir}: a unified model exports at fp32 with standard attention only`);
    return exportUnifiedChecked(modelDir, out, o);
  }
  const onLine = o.onLine ?? (() => {});
  const model = await QLIPModel.load(modelDir);
  try {
    await o.onModel?.(model);
    const r = await exportOnnx(model, out, {
      externalDataThreshold: o.externalDataThreshold,
      producerVersion: o.producerVersion,
      overwrite: o.overwrite,
      sourceDir: modelDir,
      precision: o.precision,
      attention: o.attention,
    });
    const report: OnnxExportReport = {
      dir: r.dir,
      opset: r.opset,
      files: reported(r.files),
      graphs: r.graphs,
    };
    sayFiles(r.files, onLine);
    if (o.verify === false) return report;
    const lower = r.manifest.precision !== 'fp32';
    const v = lower ? await verifyLowerPrecision(model, r.dir) : await verifyOnnxExport(model, r.dir);
    report.verification = v;
    const a = v.agreementWithFp32;
    onLine(
      a
        ? `ONNX Runtime ${v.precision} vs tfjs fp32: ${v.passed ? 'passed' : 'FAILED'} (lower precision: ${a.indicesIdentical} % of ${a.tokens} indices and ${a.bitsAgreeing} % of bits identical; max float diff ${Math.max(...Object.values(v.maxAbsDiff))})`
        : `ONNX Runtime vs tfjs: ${v.passed ? 'passed' : 'FAILED'} (index mismatches ${v.indexMismatches ?? 0}, max float diff ${Math.max(...Object.values(v.maxAbsDiff))})`,
    );
    if (r.manifest.attention === 'ort') {
      const detail = 'com.microsoft contrib operators (attention ort) are not standard ONNX';
      report.checker = { status: 'skipped', detail };
      onLine(`onnx.checker: skipped (${detail})`);
    } else report.checker = await checkGraphs(r.dir, r.graphs, onLine);
    return report;
  } finally {
    model.dispose();
  }
}

/** A unified model: the four step graphs (docs/unified.md), verified by identical tokens in ONNX Runtime. */
async function exportUnifiedChecked(
  modelDir: string,
  out: string,
  o: OnnxCheckedOptions,
): Promise<UnifiedOnnxExportReport> {
  const onLine = o.onLine ?? (() => {});
  const model = await UnifiedModel.load(modelDir);
  try {
    const r = await exportUnifiedOnnx(model, out, {
      producerVersion: o.producerVersion,
      overwrite: o.overwrite,
      sourceDir: modelDir,
    });
    sayFiles(r.files, onLine);
    const report: UnifiedOnnxExportReport = {
      dir: r.dir,
      kind: 'unified',
      files: reported(r.files),
      graphs: r.graphs,
    };
    if (o.verify === false) return report;
    report.verification = await verifyUnifiedOnnx(model, r.dir);
    onLine(
      `ONNX Runtime vs tfjs: ${report.verification.passed ? 'passed' : 'FAILED'} (seeded generation and greedy captions, identical tokens)`,
    );
    report.checker = await checkGraphs(r.dir, r.graphs, onLine);
    return report;
  } finally {
    model.dispose();
  }
}

async function checkGraphs(
  dir: string,
  graphs: { file: string }[],
  onLine: (line: string) => void,
): Promise<OnnxCheckerResult> {
  const checker = await checkOnnxModels(
    dir,
    graphs.map((g) => g.file),
  );
  onLine(`onnx.checker: ${checker.status} (${checker.detail})`);
  return checker;
}

/**
 * Hugging Face safetensors export of the model in `modelDir` into `out`, then re-loaded and compared with the
 * model (identical outputs for F32, within rounding for F16/BF16).
 */
export async function exportSafetensorsChecked(
  modelDir: string,
  out: string,
  o: SafetensorsCheckedOptions = {},
): Promise<SafetensorsExportReport> {
  const onLine = o.onLine ?? (() => {});
  const dtype = o.dtype ?? 'F32';
  const model = await QLIPModel.load(modelDir);
  try {
    await o.onModel?.(model);
    const r = await exportSafetensors(model, out, {
      name: o.name,
      dtype,
      overwrite: o.overwrite,
      sourceDir: modelDir,
    });
    const report: SafetensorsExportReport = {
      dir: r.dir,
      parameters: r.parameters,
      files: reported(r.files),
    };
    sayFiles(r.files, onLine);
    if (o.verify === false) return report;
    report.verification = await verifySafetensorsExport(model, r.dir, { dtype });
    const ok = dtype === 'F32' ? 'identical outputs' : `within ${dtype.toLowerCase()} rounding`;
    onLine(`re-load check: ${report.verification.passed ? ok : 'FAILED'}`);
    return report;
  } finally {
    model.dispose();
  }
}
