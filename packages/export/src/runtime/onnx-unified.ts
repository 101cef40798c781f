import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { onnxStepDecoder, type StepDecoder, type UnifiedConfig } from '@qlip/unified';
import * as ort from 'onnxruntime-node';
import { UNIFIED_ONNX_MANIFEST, type UnifiedOnnxGraph, type UnifiedOnnxManifest } from '../onnx/unified.js';

/** The four unified graphs loaded in ONNX Runtime; `decoder()` makes a StepDecoder with its own KV cache. */
export class OnnxUnified {
  private constructor(
    readonly dir: string,
    readonly manifest: UnifiedOnnxManifest,
    private readonly sessions: Record<UnifiedOnnxGraph, ort.InferenceSession>,
  ) {}

  static async load(dir: string, threads = 1): Promise<OnnxUnified> {
    const path = join(dir, UNIFIED_ONNX_MANIFEST);
    let manifest: UnifiedOnnxManifest;
    try {
      manifest = JSON.parse(await readFile(path, 'utf8')) as UnifiedOnnxManifest;
    } catch (err) {
      throw new Error(
        `${path}: cannot read the unified ONNX manifest (run "qlip export onnx" on the unified model): ${(err as Error).message}`,
      );
    }
    if (manifest.format !== 'qlip-unified-onnx')
      throw new Error(`${path}: not a unified ONNX manifest (format "${manifest.format}")`);
    const opts: ort.InferenceSession.SessionOptions = { intraOpNumThreads: threads, interOpNumThreads: 1 };
    const sessions = {} as Record<UnifiedOnnxGraph, ort.InferenceSession>;
    for (const [name, file] of Object.entries(manifest.graphs) as [UnifiedOnnxGraph, string][])
      sessions[name] = await ort.InferenceSession.create(join(dir, file), opts);
    return new OnnxUnified(dir, manifest, sessions);
  }

  get config(): UnifiedConfig {
    return this.manifest.config;
  }

  decoder(): StepDecoder {
    return onnxStepDecoder(this.manifest, this.sessions, ort.Tensor);
  }

  async release(): Promise<void> {
    for (const s of Object.values(this.sessions)) await s.release();
  }
}
