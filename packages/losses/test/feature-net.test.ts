import { optionalImport, selectBackend } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultFeatureNetwork, featureChannels, PerceptualLoss } from '../src/index.js';
import { f32, randn } from './host.js';

// @qlip/feature-nets is a dependency, loaded on first use: without it the default network must fail clearly.
let available = true;
beforeAll(async () => {
  await selectBackend('wasm');
  available = (await optionalImport(() => import('@qlip/feature-nets'))).module !== undefined;
});

describe('defaultFeatureNetwork', () => {
  it('with @qlip/feature-nets: MobileNetV2 stages; loss 0 for identical images, positive otherwise, finite gradient', async () => {
    if (!available) {
      await expect(defaultFeatureNetwork('mobilenet_v2')).rejects.toThrow(
        /cannot load @qlip\/feature-nets.*your own FeatureNetwork/,
      );
      return;
    }
    const net = await defaultFeatureNetwork('mobilenet_v2');
    expect(featureChannels(net, 32)).toEqual([24, 32, 64, 160, 1280]);
    const loss = new PerceptualLoss(net);
    const x = tf.tensor4d(f32(randn(1, 32 * 32 * 3).map((v) => 0.5 + 0.2 * v)), [1, 32, 32, 3]);
    const y = tf.tensor4d(f32(randn(2, 32 * 32 * 3).map((v) => 0.5 + 0.2 * v)), [1, 32, 32, 3]);
    expect(tf.tidy(() => loss.compute(x, x).dataSync()[0])).toBe(0);
    expect(tf.tidy(() => loss.compute(x, y).dataSync()[0])).toBeGreaterThan(0);
    const g = tf.tidy(
      () => tf.sum(tf.abs(tf.grad((a: tf.Tensor4D) => loss.compute(a, y))(x))).dataSync()[0]!,
    );
    expect(Number.isFinite(g) && g > 0).toBe(true);
    tf.dispose([x, y]);
    net.dispose();
  });
});
