import { selectBackend } from '@qlip/core';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type FeatureNet, loadFeatureNet, readNsfwjsArtifacts } from '../src/index.js';

const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

beforeAll(async () => {
  await selectBackend('wasm');
});

describe('mobilenet_v2 (wasm)', () => {
  let net: FeatureNet;
  const realFetch = globalThis.fetch;
  beforeAll(async () => {
    // Offline: any network request fails the load.
    globalThis.fetch = (() => {
      throw new Error('network access attempted');
    }) as typeof fetch;
    try {
      net = await loadFeatureNet('mobilenet_v2');
    } finally {
      globalThis.fetch = realFetch;
    }
  });
  afterAll(() => net.dispose());

  test('pooled features: [B, 1280], deterministic, layout-independent, resized inside', () => {
    expect(net.inputSize).toBe(224);
    expect(net.featureDim).toBe(1280);
    const x = tf.randomUniform([2, 96, 80, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const a = net.pooled(x);
    expect(a.shape).toEqual([2, 1280]);
    expect(maxAbs(a, net.pooled(x))).toBe(0);
    expect(maxAbs(a, net.pooled(tf.transpose(x, [0, 3, 1, 2]) as tf.Tensor4D, 'NCHW'))).toBe(0);
    // The two images give different features, and the features are not all zero.
    expect(maxAbs(tf.slice(a, [0, 0], [1, -1]), tf.slice(a, [1, 0], [1, -1]))).toBeGreaterThan(1e-3);
  });

  test('matches tfjs-layers running the same nsfwjs files (NSFW head output and pooled layer)', async () => {
    const art = readNsfwjsArtifacts('mobilenet_v2');
    const ref = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: art.modelTopology,
        weightSpecs: art.weightSpecs,
        weightData: art.weightData,
      }),
    );
    const x = tf.randomUniform([1, 224, 224, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const [probs] = net.layers(x, ['dense_3']);
    expect(maxAbs(probs, ref.predict(x) as tf.Tensor)).toBeLessThan(1e-5);
    const sub = tf.model({
      inputs: ref.inputs,
      outputs: ref.getLayer('flatten_1').output as tf.SymbolicTensor,
    });
    const want = sub.predict(x) as tf.Tensor;
    const rel = maxAbs(net.pooled(x), want) / tf.max(tf.abs(want)).dataSync()[0];
    console.log(
      `mobilenet_v2 pooled vs tfjs-layers: max |diff| / max |ref| = ${rel}, probs max diff ${maxAbs(probs, ref.predict(x) as tf.Tensor)}`,
    );
    expect(rel).toBeLessThan(1e-4);
    ref.dispose();
  });

  test('gradient w.r.t. the input image flows through depthwise convs on wasm', () => {
    const x = tf.randomUniform([1, 64, 64, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
    const [shallow, deep] = net.stages.slice(1, 3);
    const g = tf.grad((xx: tf.Tensor) => {
      const [a, b] = net.layers(xx as tf.Tensor4D, [shallow, deep]);
      return tf.add(tf.mean(tf.square(a)), tf.mean(tf.square(b)));
    })(x);
    expect(g.shape).toEqual(x.shape);
    const gd = g.dataSync();
    expect(gd.every(Number.isFinite)).toBe(true);
    expect(tf.max(tf.abs(g)).dataSync()[0]).toBeGreaterThan(0);
    // Its values are checked against tfjs-layers' own gradient in gradient-parity.test.ts.
  });

  test('bad input', () => {
    expect(() => net.pooled(tf.zeros([1, 32, 32]) as tf.Tensor4D)).toThrow(/4-D NHWC image batch/);
    expect(() => net.pooled(tf.zeros([1, 3, 32, 32]) as tf.Tensor4D)).toThrow(/3 colour channels/);
    expect(() => net.layers(tf.zeros([1, 32, 32, 3]) as tf.Tensor4D, ['nope'])).toThrow(
      /unknown layer "nope"/,
    );
  });
});

describe('inception_v3 (wasm)', () => {
  let net: FeatureNet;
  beforeAll(async () => {
    net = await loadFeatureNet('inception_v3', { layout: 'NCHW' });
  });
  afterAll(() => net.dispose());

  test('pooled 2048-d features of an NCHW batch, deterministic', () => {
    expect(net.inputSize).toBe(299);
    const x = tf.randomUniform([2, 3, 64, 64], 0, 1, 'float32', 5) as tf.Tensor4D;
    const a = net.pooled(x);
    expect(a.shape).toEqual([2, 2048]);
    expect(tf.min(a).dataSync()[0]).toBeGreaterThanOrEqual(0); // average of ReLU outputs
    expect(maxAbs(a, net.pooled(x))).toBe(0);
  });

  test('pooled features match tfjs-layers on the same files', async () => {
    const art = readNsfwjsArtifacts('inception_v3');
    const ref = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: art.modelTopology,
        weightSpecs: art.weightSpecs,
        weightData: art.weightData,
      }),
    );
    const sub = tf.model({
      inputs: ref.inputs,
      outputs: ref.getLayer('flatten_1').output as tf.SymbolicTensor,
    });
    const x = tf.randomUniform([1, 299, 299, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const want = sub.predict(x) as tf.Tensor;
    const rel = maxAbs(net.pooled(x, 'NHWC'), want) / tf.max(tf.abs(want)).dataSync()[0];
    console.log(`inception_v3 pooled vs tfjs-layers: max |diff| / max |ref| = ${rel}`);
    expect(rel).toBeLessThan(1e-4);
    ref.dispose();
  });

  test('gradient of a perceptual-style loss w.r.t. the input image', () => {
    const x = tf.randomUniform([1, 3, 48, 48], 0, 1, 'float32', 9) as tf.Tensor4D;
    const y = tf.randomUniform([1, 3, 48, 48], 0, 1, 'float32', 10) as tf.Tensor4D;
    const target = net.layers(y, ['mixed2']);
    const g = tf.grad((xx: tf.Tensor) =>
      tf.mean(tf.square(tf.sub(net.layers(xx as tf.Tensor4D, ['mixed2'])[0], target[0]))),
    )(x);
    expect(g.shape).toEqual([1, 3, 48, 48]);
    expect(g.dataSync().every(Number.isFinite)).toBe(true);
    expect(tf.max(tf.abs(g)).dataSync()[0]).toBeGreaterThan(0);
  });
});

test('unknown network name', async () => {
  await expect(loadFeatureNet('vgg16' as never)).rejects.toThrow(/unknown network "vgg16"/);
});
