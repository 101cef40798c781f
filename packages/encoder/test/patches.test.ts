import { selectBackend } from '@qlip/core';
import { linear, type Params } from '@qlip/nn';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { patchify, unpatchify } from '../src/index.js';
import { maxDiff, randomPixels } from './helpers.js';

describe.each(['cpu', 'wasm'])('patches on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend(backend);
  });

  it.each([2, 4, 8])(
    'patchify + matMul equals Conv2d(k=p, s=p) with the [D, C, p, p] weight (p=%i)',
    async (p) => {
      const x = randomPixels([2, 3, 2 * p, 3 * p], p);
      const d = 5;
      const w = randomPixels([d, 3, p, p], 100 + p); // official conv weight [D, C, p, p]
      // Storage layout [C*p*p, D]: rows in (channel, row, col) order.
      const wStore = tf.transpose(tf.reshape(w, [d, 3 * p * p]));
      const params: Params = new Map([['pe.weight', tf.variable(wStore)]]);
      const viaMatMul = linear(params, 'pe', patchify(x, p)); // [B, N, D]
      // Reference conv on the cpu backend's NHWC layout.
      const conv = tf.conv2d(
        tf.transpose(x, [0, 2, 3, 1]) as tf.Tensor4D,
        tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D,
        p,
        'valid',
      ); // [B, gh, gw, D]
      expect(viaMatMul.shape).toEqual([2, 6, d]);
      expect(maxDiff(await viaMatMul.data(), await tf.reshape(conv, [2, 6, d]).data())).toBeLessThan(1e-4);
    },
  );

  it('unpatchify follows out[b, c, hh*p+sh, ww*p+sw] = tokens[b, hh*gw+ww, c*p*p+sh*p+sw] and inverts patchify', async () => {
    const [b, c, p, gh, gw] = [2, 3, 2, 2, 3];
    const n = gh * gw;
    const tokens = tf.tensor3d(
      Float32Array.from({ length: b * n * c * p * p }, (_, i) => i),
      [b, n, c * p * p],
    );
    const img = unpatchify(tokens, p, gh, gw);
    expect(img.shape).toEqual([b, c, gh * p, gw * p]);
    const data = await img.data();
    const tok = await tokens.data();
    const H = gh * p;
    const W = gw * p;
    for (let bi = 0; bi < b; bi++)
      for (let ci = 0; ci < c; ci++)
        for (let y = 0; y < H; y++)
          for (let x = 0; x < W; x++) {
            const [hh, sh, ww, sw] = [Math.floor(y / p), y % p, Math.floor(x / p), x % p];
            const src = (bi * n + hh * gw + ww) * c * p * p + ci * p * p + sh * p + sw;
            expect(data[((bi * c + ci) * H + y) * W + x]).toBe(tok[src]);
          }
    expect([...(await patchify(img, p).data())]).toEqual([...tok]);
  });

  it('rejects images that are not a multiple of the patch size', () => {
    expect(() => patchify(tf.zeros([1, 3, 10, 8]), 4)).toThrow(/10x8 is not a multiple of the patch size 4/);
  });
});
