import { selectBackend } from '@qlip/core';
import * as tf from '@tensorflow/tfjs';
import { expect, test } from 'vitest';
import { KerasGraph, readNsfwjsArtifacts, readNsfwjsModel } from '../src/index.js';

/**
 * The input gradient of this package's graph, on wasm and on cpu, against the gradient of the same
 * files run by tfjs-layers on the cpu backend (native kernels, including the depthwise and fused-conv
 * backprops that wasm lacks). Both graphs are fully convolutional up to the pooling, so a 64x64 input
 * keeps the slow cpu reference short. Own file because it switches the global backend.
 */
test('mobilenet_v2 input gradient: wasm and cpu match tfjs-layers (cpu)', async () => {
  const layer = 'block_6_project_BN'; // after stride-2 depthwise convs with ZeroPadding, and residual adds
  const shape: [number, number, number, number] = [1, 64, 64, 3];
  const xs = tf.randomUniform(shape, 0, 1, 'float32', 21).dataSync();
  const loss = (t: tf.Tensor) => tf.mean(tf.square(t));
  const gradOf = async (backend: 'wasm' | 'cpu') => {
    await selectBackend(backend);
    const m = readNsfwjsModel('mobilenet_v2');
    const graph = new KerasGraph(m.layers, m.weights, 'mobilenet_v2');
    const g = tf.grad((xx: tf.Tensor) => loss(graph.run(xx, [layer])[0]))(tf.tensor4d(xs, shape));
    const out = g.dataSync().slice();
    graph.dispose();
    return out;
  };
  const gWasm = await gradOf('wasm');
  const gCpu = await gradOf('cpu');

  const art = readNsfwjsArtifacts('mobilenet_v2');
  const ref = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: art.modelTopology,
      weightSpecs: art.weightSpecs,
      weightData: art.weightData,
    }),
  );
  const sub = tf.model({ inputs: ref.inputs, outputs: ref.getLayer(layer).output as tf.SymbolicTensor });
  const gRef = tf
    .grad((xx: tf.Tensor) => loss(sub.apply(xx, { training: false }) as tf.Tensor))(tf.tensor4d(xs, shape))
    .dataSync();
  ref.dispose();

  let scale = 0;
  for (const v of gRef) scale = Math.max(scale, Math.abs(v));
  const rel = (a: ArrayLike<number>) => {
    let m = 0;
    for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - gRef[i]));
    return m / scale;
  };
  console.log(`input-gradient max |diff| / max |ref|: cpu ${rel(gCpu)}, wasm ${rel(gWasm)}`);
  expect(scale).toBeGreaterThan(0);
  expect(rel(gCpu)).toBeLessThan(1e-4);
  expect(rel(gWasm)).toBeLessThan(1e-4);
});
