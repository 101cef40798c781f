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
