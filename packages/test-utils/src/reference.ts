import { SafetensorsReader, toFloat32, toInt32 } from '@qlip/core';

/** fixtures/qlip-reference/qlip-tiny-eva/: tensors computed by NVIDIA's modeling code for a tiny EVA QLIP. */
export const REFERENCE_FIXTURE = new URL('../../../fixtures/qlip-reference/qlip-tiny-eva/', import.meta.url)
  .pathname;

/** Suggested absolute tolerances from the fixture README ('atol' column). */
export const ATOL: Record<string, number> = {
  vision_hidden_states: 2e-4,
  vision_last_hidden_pre_quant: 2e-4,
  quant_input: 2e-5,
  quantized: 1e-6,
  decoder_latents: 5e-6,
  decoded_pixels: 5e-5,
  vision_pooled: 5e-5,
  image_embeds: 5e-5,
  text_hidden_states: 5e-5,
  text_last_hidden_state: 5e-5,
  text_pooled: 2e-5,
  text_embeds: 2e-5,
  logits_per_image: 5e-5,
  decoded_from_indices: 5e-5,
};

/** One reference tensor, as float32 or int32 host data. */
export interface Ref {
  shape: number[];
  f32: Float32Array;
  i32: Int32Array;
}

/** Every tensor of one safetensors file of the reference fixture, by name. */
export async function readReference(file: string): Promise<Map<string, Ref>> {
  const r = await SafetensorsReader.open(`${REFERENCE_FIXTURE}${file}`);
  const out = new Map<string, Ref>();
  for (const name of r.names()) {
    const t = await r.read(name);
    const isFloat = t.dtype === 'F32';
    out.set(name, {
      shape: t.shape,
      f32: isFloat ? toFloat32(t) : new Float32Array(0),
      i32: isFloat ? new Int32Array(0) : toInt32(t),
    });
  }
  await r.close();
  return out;
}

/** max |a - b| over two equal-length arrays (Infinity when a difference is NaN). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return m;
}
