import { selectBackend } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { LOGIT_SCALE_INIT } from '../src/contrastive.js';
import { captionGroups, infoNce, LOGIT_SCALE_MAX, positiveTargets } from '../src/index.js';
import { centralDiff, f32, infoNceHost, randn } from './host.js';

beforeAll(async () => {
  await selectBackend('wasm');
});

const B = 6;
const D = 5;

function run(
  img: Float64Array,
  txt: Float64Array,
  ls: number,
  opts: Parameters<typeof infoNce>[3] = {},
): number {
  return tf.tidy(() => {
    const r = infoNce(tf.tensor2d(f32(img), [B, D]), tf.tensor2d(f32(txt), [B, D]), tf.scalar(ls), opts);
    return r.loss.dataSync()[0]!;
  });
}

describe('caption groups and targets', () => {
  it('identical captions share an id, in order of first appearance', () => {
    expect([...captionGroups(['a cat', 'a dog', 'a cat', 'a bird', 'a dog'])]).toEqual([0, 1, 0, 2, 1]);
  });
  it("targets are uniform over each row's positives and symmetric", () => {
    const p = positiveTargets([0, 1, 0, 0]);
    // rows 0, 2, 3 have 3 positives; row 1 only itself
    expect([...p]).toEqual(
      [1 / 3, 0, 1 / 3, 1 / 3, 0, 1, 0, 0, 1 / 3, 0, 1 / 3, 1 / 3, 1 / 3, 0, 1 / 3, 1 / 3].map(Math.fround),
    );
  });
});

describe('infoNce', () => {
  const img = randn(1, B * D);
  const txt = randn(2, B * D);

  it('plain InfoNCE matches a float64 host computation', () => {
    for (const ls of [0, 1.3, LOGIT_SCALE_MAX - 0.5]) {
      expect(run(img, txt, ls)).toBeCloseTo(infoNceHost(img, txt, B, D, ls, null), 5);
    }
  });

  it('all-distinct captions: multi-positive equals plain', () => {
    const captions = ['a', 'b', 'c', 'd', 'e', 'f'];
    const plain = run(img, txt, 2);
    expect(run(img, txt, 2, { multiPositive: true, captions })).toBe(plain);
    expect(run(img, txt, 2, { multiPositive: true, groups: [5, 4, 3, 2, 1, 0] })).toBe(plain);
  });

  it('duplicate captions: multi-positive matches the float64 KL reference; plain ignores captions', () => {
    const groups = [0, 1, 0, 2, 1, 0];
    const mp = run(img, txt, 2, { multiPositive: true, groups });
    expect(mp).toBeCloseTo(infoNceHost(img, txt, B, D, 2, groups), 5);
    expect(run(img, txt, 2, { groups })).toBeCloseTo(infoNceHost(img, txt, B, D, 2, null), 5);
  });

  it('perfect alignment with repeated captions: multi-positive reaches ~0, plain keeps its ln 2 floor', () => {
    // Three classes, two items each; text embeddings of equal captions are equal, images match them.
    const captions = ['cat', 'dog', 'cat', 'car', 'dog', 'car'];
    const g = captionGroups(captions);
    const emb = new Float64Array(B * D);
    for (let i = 0; i < B; i++) emb[i * D + g[i]!] = 1;
    const plain = run(emb, emb, 10); // clamped to scale 100
    const multi = run(emb, emb, 10, { multiPositive: true, captions });
    expect(plain).toBeCloseTo(Math.log(2), 5);
    expect(multi).toBeLessThan(1e-5);
    expect(multi).toBeGreaterThanOrEqual(-1e-5);
  });

  it('gradient w.r.t. logit_scale matches central differences of the host reference, 0 above the cap', () => {
    const groups = [0, 1, 0, 2, 1, 0];
    for (const g of [null, groups]) {
      for (const ls of [0.5, 2.6592]) {
        const grad = tf.tidy(
          () =>
            tf
              .grad(
                (s: tf.Scalar) =>
                  infoNce(tf.tensor2d(f32(img), [B, D]), tf.tensor2d(f32(txt), [B, D]), s, {
                    multiPositive: g !== null,
                    groups: g ?? undefined,
                  }).loss,
              )(tf.scalar(ls))
              .dataSync()[0]!,
        );
        const fd = centralDiff((x) => infoNceHost(img, txt, B, D, x[0]!, g), Float64Array.of(ls), 0);
        expect(Math.abs(fd)).toBeGreaterThan(1e-3);
        expect(grad).toBeCloseTo(fd, 4);
      }
    }
    const above = tf.tidy(
      () =>
        tf
          .grad(
            (s: tf.Scalar) => infoNce(tf.tensor2d(f32(img), [B, D]), tf.tensor2d(f32(txt), [B, D]), s).loss,
          )(tf.scalar(5))
          .dataSync()[0],
    );
    expect(above).toBe(0);
  });

  it('gradient w.r.t. the image embeddings matches central differences (multi-positive)', () => {
    const groups = [0, 1, 0, 2, 1, 0];
    const grad = tf.tidy(() =>
      tf
        .grad(
          (x: tf.Tensor2D) =>
            infoNce(x, tf.tensor2d(f32(txt), [B, D]), tf.scalar(1.5), { multiPositive: true, groups }).loss,
        )(tf.tensor2d(f32(img), [B, D]))
        .dataSync(),
    );
    for (const k of [0, 7, 13, 29]) {
      const fd = centralDiff((x) => infoNceHost(x, txt, B, D, 1.5, groups), img, k);
      expect(grad[k]).toBeCloseTo(fd, 4);
    }
  });

  it('leaves no tensors behind beyond its outputs', () => {
    const i = tf.tensor2d(f32(img), [B, D]);
    const t = tf.tensor2d(f32(txt), [B, D]);
    const s = tf.scalar(1);
    const before = tf.memory().numTensors;
    const r = infoNce(i, t, s, { multiPositive: true, groups: [0, 0, 1, 1, 2, 2] });
    expect(tf.memory().numTensors).toBe(before + 4);
    tf.dispose([i, t, s, r.loss, r.imageToText, r.textToImage, r.scale]);
  });

  it('rejects bad inputs with messages naming the fault', () => {
    const i = tf.zeros([B, D]) as tf.Tensor2D;
    const t3 = tf.zeros([B, D + 1]) as tf.Tensor2D;
    const s = tf.scalar(1);
    expect(() => infoNce(i, t3, s)).toThrow(/text embeddings \[6,6\] do not match image embeddings \[6,5\]/);
    expect(() => infoNce(i, i, tf.zeros([1]) as unknown as tf.Scalar)).toThrow(/logitScale must be a scalar/);
    expect(() => infoNce(i, i, s, { multiPositive: true })).toThrow(/needs captions or groups/);
    expect(() => infoNce(i, i, s, { multiPositive: true, captions: ['a', 'b'] })).toThrow(
      /2 captions\/groups for a batch of 6/,
    );
    expect(() => infoNce(i, i, s, { multiPositive: true, captions: ['a'], groups: [0] })).toThrow(/not both/);
  });
});

describe('a learnable logit scale', () => {
  it('starts at ln(1/0.07) and receives the gradient of the loss', () => {
    const init = tf.scalar(LOGIT_SCALE_INIT);
    const logitScale = tf.variable(init, true);
    init.dispose();
    expect(logitScale.dataSync()[0]).toBeCloseTo(Math.log(1 / 0.07), 5);
    const img = tf.tensor2d(f32(randn(3, B * D)), [B, D]);
    const txt = tf.tensor2d(f32(randn(4, B * D)), [B, D]);
    const captions = ['a', 'b', 'a', 'c', 'b', 'a'];
    const { value, grads } = tf.variableGrads(
      () => infoNce(img, txt, logitScale, { multiPositive: true, captions }).loss,
      [logitScale],
    );
    expect(value.dataSync()[0]).toBeCloseTo(
      infoNceHost(randn(3, B * D), randn(4, B * D), B, D, Math.log(1 / 0.07), [0, 1, 0, 2, 1, 0]),
      5,
    );
    expect(Object.keys(grads)).toEqual([logitScale.name]);
    expect(Math.abs(grads[logitScale.name]!.dataSync()[0]!)).toBeGreaterThan(0);
    tf.dispose([value, img, txt, logitScale, ...Object.values(grads)]);
  });
});
