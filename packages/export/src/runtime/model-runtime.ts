import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelRuntime } from '@qlip/tokenize';
import { ONNX_MANIFEST } from '../onnx/export.js';
import { OnnxQLIP, type OnnxQLIPOptions } from './onnx-qlip.js';

/** Sub-folder of a model directory where `qlip export onnx` output is looked for by `--runtime onnx`. */
export const ONNX_SUBDIR = 'onnx';

/** `ModelRuntime` of @qlip/tokenize (what tokenize, reconstruct and eval drive), over ONNX Runtime. */
export interface OnnxModelRuntime extends ModelRuntime {
  readonly name: 'onnx';
  /** The underlying ONNX Runtime model (embeddings, group indices). */
  readonly onnx: OnnxQLIP;
  dispose(): void;
}

/** The ONNX export folder of `dir`: `dir` itself when it holds `qlip-onnx.json`, else `dir/onnx`. */
export function resolveOnnxDir(dir: string): string {
  if (existsSync(join(dir, ONNX_MANIFEST))) return dir;
  const sub = join(dir, ONNX_SUBDIR);
  if (existsSync(join(sub, ONNX_MANIFEST))) return sub;
  throw new Error(
    `${dir}: no ONNX export found (looked for ${join(dir, ONNX_MANIFEST)} and ${join(sub, ONNX_MANIFEST)}); ` +
      `create it with: qlip export onnx --model ${dir} --out ${sub}`,
  );
}

/**
 * `--runtime onnx`: tokenize and decode through ONNX Runtime's native CPU kernels (all cores unless
 * `threads` says otherwise), with indices identical to the tfjs runtime.
 */
export async function onnxRuntime(dir: string, opts: OnnxQLIPOptions = {}): Promise<OnnxModelRuntime> {
  const onnx = await OnnxQLIP.load(resolveOnnxDir(dir), opts);
  const m = onnx.manifest;
  const per = m.channels * m.imageSize ** 2;
  return {
    name: 'onnx',
    imageSize: m.imageSize,
    patchSize: m.patchSize,
    bits: m.bits,
    grid: m.grid,
    featureDim: m.featureDim,
    onnx,
    async encode(pixels, batch, o) {
      if (o.features) {
        throw new Error(
          'post-quantisation features (--features) are not exported to ONNX; use --runtime tfjs for them',
        );
      }
      if (pixels.length !== batch * per) {
        throw new Error(
          `onnx runtime: ${pixels.length} pixel values do not form [${batch}, ${m.channels}, ${m.imageSize}, ${m.imageSize}]`,
        );
      }
      return { indices: (await onnx.encodeToIndices(pixels)).indices };
    },
    async decode(indices, _batch) {
      return (await onnx.decodeIndices(indices)).data;
    },
    contextLength: m.contextLength,
    async imageEmbeddings(pixels, _batch) {
      return (await onnx.imageEmbeddings(pixels)).data;
    },
    async textEmbeddings(ids) {
      return (await onnx.textEmbeddings(ids)).data;
    },
    dispose() {
      void onnx.release();
    },
  };
}
