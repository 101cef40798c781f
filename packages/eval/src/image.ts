import type * as tf from '@tensorflow/tfjs-core';

/**
 * One image as interleaved samples in row-major HWC order, values on the 0..255 scale
 * (`Uint8Array` for decoded 8-bit images, or any float array holding 0..255 values).
 */
export interface Image {
  data: ArrayLike<number>;
  height: number;
  width: number;
  /** Samples per pixel: 1 (grey) or 3 (RGB); any positive count is accepted by the metrics. */
  channels: number;
}

/** Throw unless `img` is a well-formed image; `what` names it in the message. */
export function checkImage(img: Image, what: string): void {
  const { height, width, channels } = img;
  for (const [k, v] of [
    ['height', height],
    ['width', width],
    ['channels', channels],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${what}: ${k} must be a positive integer, got ${v}`);
  }
  const want = height * width * channels;
  if (img.data.length !== want) {
    throw new Error(
      `${what}: data has ${img.data.length} values, expected ${height}x${width}x${channels} = ${want}`,
    );
  }
}

/** Throw unless `a` and `b` are well-formed images of the same shape. */
export function checkPair(a: Image, b: Image, what: string): void {
  checkImage(a, `${what} (first image)`);
  checkImage(b, `${what} (second image)`);
  if (a.height !== b.height || a.width !== b.width || a.channels !== b.channels) {
    throw new Error(
      `${what}: shapes differ, ${a.height}x${a.width}x${a.channels} vs ${b.height}x${b.width}x${b.channels}`,
    );
  }
}

export interface FromTensorOptions {
  /** Axis order of the batch: `NHWC` ([B, H, W, C], default) or `NCHW` ([B, C, H, W]). */
  layout?: 'NHWC' | 'NCHW';
  /** Value range of the tensor: `unit` for [0, 1] (default) or `byte` for [0, 255]. */
  range?: 'unit' | 'byte';
  /**
   * Clamp and round to 8-bit integers, as when reconstructions are saved to PNG before scoring
   * (the usual protocol for reported PSNR/SSIM). Default true.
   */
  quantize?: boolean;
}

/**
 * Read a 4-D image batch from a tfjs tensor into host images on the 0..255 scale.
 * @param batch `[B, H, W, C]` (NHWC) or `[B, C, H, W]` (NCHW)
 */
export async function imagesFromTensor(batch: tf.Tensor, opts: FromTensorOptions = {}): Promise<Image[]> {
  const layout = opts.layout ?? 'NHWC';
  if (batch.rank !== 4)
    throw new Error(`imagesFromTensor: expected a 4-D ${layout} batch, got shape [${batch.shape}]`);
  const [b, d1, d2, d3] = batch.shape as [number, number, number, number];
  const [h, w, c] = layout === 'NHWC' ? [d1, d2, d3] : [d2, d3, d1];
  const src = await batch.data();
  const scale = (opts.range ?? 'unit') === 'unit' ? 255 : 1;
  const quantize = opts.quantize ?? true;
  const out: Image[] = [];
  const per = h * w * c;
  for (let i = 0; i < b; i++) {
    const data = quantize ? new Uint8Array(per) : new Float32Array(per);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let k = 0; k < c; k++) {
          // NCHW sample (i, k, y, x) lands at HWC position (y, x, k).
          const s = layout === 'NHWC' ? i * per + (y * w + x) * c + k : i * per + (k * h + y) * w + x;
          const v = src[s] * scale;
          data[(y * w + x) * c + k] = quantize ? Math.min(255, Math.max(0, Math.round(v))) : v;
        }
      }
    }
    out.push({ data, height: h, width: w, channels: c });
  }
  return out;
}
