import { selectBackend } from '@qlip/core';
import { stage1Loss } from '@qlip/losses';
import { QLIPModel } from '@qlip/model';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { variableGradsFreeing } from '../src/backward.js';
import { activationHeavyMlp, MICRO_MODEL } from './helpers.js';

/** Gradients as host arrays by variable name, disposing the tensors. */
async function host(grads: Record<string, tf.Tensor>): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const [name, g] of Object.entries(grads)) out[name] = (await g.data()) as Float32Array;
  tf.dispose(Object.values(grads));
  return out;
}

describe.each(['wasm', 'cpu'] as const)('variableGradsFreeing on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend(backend);
  });

  it('gives bit-identical gradients to tf.variableGrads on a QLIP stage-1 loss, leaks nothing', async () => {
    const model = QLIPModel.create(MICRO_MODEL, 3);
    const b = 4;
    const pixels = tf.randomUniform([b, 3, 16, 16], -1, 1, 'float32', 5) as tf.Tensor4D; // [B, 3, S, S]
    const ids = Int32Array.from({ length: b * 12 }, (_, i) => (i * 7919) % 400);
    const loss = () =>
      stage1Loss(
        {
          ...model.stage1Outputs(pixels, ids, 12),
          target: pixels,
          reconstructionKind: 'l2',
          bsq: model.bsqLossOptions(),
        },
        { reconstruction: 1, bsq: 1, contrastive: 1 },
      ).total;
    const vars = [...model.params.values()];

    const stock = tf.variableGrads(loss, vars);
    const before = tf.memory().numTensors;
    const ours = variableGradsFreeing(loss, vars);
    // What is left: the value and one gradient per variable.
    expect(tf.memory().numTensors - before).toBe(1 + vars.length);
    expect(Object.keys(ours.grads).sort()).toEqual(Object.keys(stock.grads).sort());
    expect(ours.value.dataSync()[0]).toBe(stock.value.dataSync()[0]);
    const [a, e] = [await host(ours.grads), await host(stock.grads as Record<string, tf.Tensor>)];
    for (const name of Object.keys(e)) expect(a[name], name).toEqual(e[name]);
    tf.dispose([ours.value, stock.value]);

    pixels.dispose();
    model.dispose();
  });

  it('holds about half the bytes tf.variableGrads holds at its peak (an activation-heavy MLP)', async () => {
    const mlp = activationHeavyMlp(`mlp-${backend}`);
    const stock = await mlp.peak(tf.variableGrads);
    const ours = await mlp.peak(variableGradsFreeing as typeof tf.variableGrads);
    expect(ours).toBeLessThan(stock * 0.6); // 0.49 on wasm and cpu
    mlp.dispose();
  });

  it('handles a tensor used twice, an output off the path, custom gradients and pass-through gradients', () => {
    const x = tf.variable(tf.tensor1d([0.5, -1.25, 2]), true, `x-${backend}`);
    const w = tf.variable(
      tf.tensor2d([
        [1, 2],
        [3, -4],
        [0.5, 0.25],
      ]),
      true,
      `w-${backend}`,
    );
    const frozen = tf.variable(tf.tensor1d([1, 1, 1]), false, `f-${backend}`);
    const square = tf.customGrad((t: tf.Tensor, save: tf.GradSaveFunc) => {
      save([t]);
      return {
        value: tf.square(t),
        gradFunc: (dy: tf.Tensor, [s]: tf.Tensor[]) => tf.mul(dy, tf.mul(s!, 2)),
      };
    });
    const f = () => {
      const h = tf.mul(x, x); // x twice
      const [lo] = tf.split(tf.concat([h, square(x) as tf.Tensor]), 2); // the second half is off the path
      const z = tf.matMul(tf.reshape(tf.add(lo!, frozen), [1, 3]), w); // [1, 2]
      return tf.sum(tf.relu(z).clone()) as tf.Scalar;
    };
    const before = tf.memory().numTensors;
    const stock = tf.variableGrads(f, [x, w, frozen]);
    const ours = variableGradsFreeing(f, [x, w, frozen]);
    for (const v of [x, w]) expect(ours.grads[v.name]!.arraySync()).toEqual(stock.grads[v.name]!.arraySync());
    expect(ours.grads[frozen.name]).toBeUndefined();
    tf.dispose([stock.value, ours.value, ...Object.values(ours.grads)]);
    tf.dispose(Object.values(stock.grads).filter((g): g is tf.Tensor => g !== null));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w, frozen]);
  });

  it('refuses a loss that does not depend on the variables, and leaves no tape behind', () => {
    const v = tf.variable(tf.scalar(1), true, `v-${backend}`);
    const before = tf.memory().numTensors;
    expect(() => variableGradsFreeing(() => tf.scalar(2), [v])).toThrow(/connection/);
    expect(tf.memory().numTensors).toBe(before + 1); // the value, as tf.variableGrads leaves it
    const ok = variableGradsFreeing(() => tf.mul(v, 3) as tf.Scalar, [v]);
    expect(ok.grads[v.name]!.dataSync()[0]).toBe(3);
    tf.dispose([ok.value, ok.grads[v.name]!, v]);
  });
});
