import { Rng } from '@qlip/core';
import { captionPrefixes, greedyText, sampleImages, tfjsDecoder, type UnifiedModel } from '@qlip/unified';
import { OnnxUnified } from '../runtime/onnx-unified.js';

export interface UnifiedOnnxVerification {
  passed: boolean;
  /** A seeded guided generation (4 images) in both runtimes: token grids identical? */
  generation: { images: number; identical: boolean; mismatches: number };
  /** Greedy captions of those grids in both runtimes: token ids identical? */
  captions: { identical: boolean; tfjs: number[][]; onnx: number[][] };
  problems: string[];
}

/**
 * Run the exported graphs in ONNX Runtime against the tfjs model with the same host sampling code: a seeded
 * text-to-image generation (guidance 3, temperature 1) and greedy captions must give identical tokens.
 */
export async function verifyUnifiedOnnx(
  model: UnifiedModel,
  dir: string,
  seed = 0,
): Promise<UnifiedOnnxVerification> {
  const onnx = await OnnxUnified.load(dir);
  try {
    const c = model.config;
    const text = Array.from({ length: Math.min(6, c.clip_ids.length) }, (_, i) => 6 + i);
    const o = { guidance: 3, temperature: 1, topK: 0 };
    const run = async (
      dec: ReturnType<typeof tfjsDecoder>,
      f: (d: typeof dec) => Promise<Uint32Array | number[][]>,
    ) => {
      try {
        return await f(dec);
      } finally {
        dec.dispose();
      }
    };
    const a = (await run(tfjsDecoder(model), (d) =>
      sampleImages(d, text, 4, o, new Rng(seed)),
    )) as Uint32Array;
    const b = (await run(onnx.decoder(), (d) => sampleImages(d, text, 4, o, new Rng(seed)))) as Uint32Array;
    let mismatches = 0;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) mismatches++;
    const n = c.image_grid[0] * c.image_grid[1];
    const capA = (await run(tfjsDecoder(model), (d) =>
      greedyText(d, captionPrefixes(a, n), 16),
    )) as number[][];
    const capB = (await run(onnx.decoder(), (d) => greedyText(d, captionPrefixes(a, n), 16))) as number[][];
    const capsEqual = JSON.stringify(capA) === JSON.stringify(capB);
    const problems = [
      ...(mismatches
        ? [`generation: ${mismatches} of ${a.length} image tokens differ between ONNX Runtime and tfjs`]
        : []),
      ...(capsEqual ? [] : ['captioning: greedy captions differ between ONNX Runtime and tfjs']),
    ];
    return {
      passed: problems.length === 0,
      generation: { images: 4, identical: mismatches === 0, mismatches },
      captions: { identical: capsEqual, tfjs: capA, onnx: capB },
      problems,
    };
  } finally {
    await onnx.release();
  }
}
