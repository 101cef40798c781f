import { stage1Loss } from '@qlip/losses';
import { QLIPModel } from '@qlip/model';
import { AdamW, GradientAccumulator, gradientsOf } from '@qlip/trainer';
import * as tf from '@tensorflow/tfjs-core';
import { syntheticImages, syntheticPrompts } from './data.js';
import { BENCH_S_LOSS_WEIGHTS, BENCH_S_OPTIMIZER, type BenchShape, benchConfig } from './preset.js';

/**
 * The four bench-s workloads on one model and one synthetic batch. Each call runs one batch to completion
 * (results read back to the host, as a caller would) and leaves no tensor behind.
 */
export class BenchWorkloads {
  readonly model: QLIPModel;
  /** `[B, 3, S, S]` synthetic pixels. */
  readonly pixels: tf.Tensor4D;
  /** `[B * ctx]` synthetic prompt ids. */
  readonly ids: Int32Array;
  readonly optimizer: AdamW;
  /** The train step's micro-batches: `[pixels, ids]` per chunk (one chunk = the whole batch). */
  private readonly chunks: { pixels: tf.Tensor4D; ids: Int32Array }[];

  /**
   * @param trainMicroBatches split the train step's batch into this many micro-batches with gradient
   *   accumulation (one AdamW step). bench-s runs one batch-32 tape (1); splitting lowers the peak memory
   *   further (the backward pass of @qlip/trainer already frees gradients as it consumes them).
   */
  constructor(
    readonly shape: BenchShape,
    seed = 0,
    readonly trainMicroBatches = 1,
  ) {
    this.model = QLIPModel.create(benchConfig(shape), seed);
    const s = shape.imageSize;
    this.pixels = tf.tensor4d(syntheticImages(shape.batch, s, seed), [shape.batch, 3, s, s]);
    this.ids = syntheticPrompts(shape.batch, shape.contextLength, shape.vocabSize, seed);
    if (!Number.isInteger(trainMicroBatches) || trainMicroBatches < 1 || shape.batch % trainMicroBatches) {
      throw new Error(
        `BenchWorkloads: ${trainMicroBatches} micro-batches do not divide the batch of ${shape.batch}`,
      );
    }
    const mb = shape.batch / trainMicroBatches;
    const ctx = shape.contextLength;
    this.chunks =
      trainMicroBatches === 1
        ? [{ pixels: this.pixels, ids: this.ids }]
        : Array.from({ length: trainMicroBatches }, (_, i) => ({
            pixels: tf.slice(this.pixels, [i * mb, 0, 0, 0], [mb, 3, s, s]), // [mb, 3, S, S]
            ids: this.ids.slice(i * mb * ctx, (i + 1) * mb * ctx),
          }));
    const { beta1, beta2, eps, weightDecay } = BENCH_S_OPTIMIZER;
    // bench-s decays every parameter (single group, no exclusions): no noDecay rule.
    this.optimizer = new AdamW({ beta1, beta2, eps, weightDecay });
  }

  /** Encoder + quant_embed + l2norm + sign -> packed indices `[B, N]` on the host. */
  async tokenize(): Promise<Uint32Array> {
    return (await this.model.encodeToIndices(this.pixels)).indices;
  }

  /** Encoder + bottleneck + decoder -> `[B, 3, S, S]` pixels on the host. */
  async reconstruct(): Promise<Float32Array> {
    const r = this.model.reconstruct(this.pixels);
    const data = (await r.data()) as Float32Array;
    r.dispose();
    return data;
  }

  /** Text tower + EOT pooling + projection + l2norm -> `[B, E]` on the host. */
  async text(): Promise<Float32Array> {
    const e = this.model.textEmbeddings(this.ids, { normalize: true });
    const data = (await e.data()) as Float32Array;
    e.dispose();
    return data;
  }

  /** The stage-1 loss of the batch (forward of every tower). Call inside a tidy or gradient scope. */
  private loss(pixels: tf.Tensor4D, ids: Int32Array): tf.Scalar {
    const out = this.model.stage1Outputs(pixels, ids, this.shape.contextLength);
    return stage1Loss(
      {
        ...out,
        target: pixels,
        reconstructionKind: 'l2',
        bsq: this.model.bsqLossOptions(),
      },
      BENCH_S_LOSS_WEIGHTS,
    ).total;
  }

  /** Forward + stage-1 loss only (no tape, same micro-batches): the forward share of a train step. */
  trainForward(): number {
    let total = 0;
    for (const c of this.chunks) {
      const l = tf.tidy(() => this.loss(c.pixels, c.ids));
      total += l.dataSync()[0]!;
      l.dispose();
    }
    return total / this.chunks.length;
  }

  /**
   * One train step: forward, stage-1 loss, backward over every parameter and gradient accumulation over
   * the micro-batches (the training loop's own `gradientsOf` + `GradientAccumulator`), AdamW, gradients
   * dropped. Returns the mean loss and the milliseconds spent in each half.
   */
  trainStep(): { loss: number; gradMs: number; adamwMs: number } {
    const t0 = performance.now();
    const accumulator = new GradientAccumulator();
    let grads: Map<string, tf.Tensor> | undefined;
    try {
      for (const chunk of this.chunks) {
        accumulator.add(
          gradientsOf(this.model.params, () => {
            const total = this.loss(chunk.pixels, chunk.ids);
            return { total, terms: { total: total.dataSync()[0]! } };
          }),
        );
      }
      const loss = accumulator.terms().total!;
      grads = accumulator.mean();
      const t1 = performance.now();
      this.optimizer.apply(this.model.params, grads, BENCH_S_OPTIMIZER.lr);
      // Reading one updated parameter waits for every queued update on asynchronous backends.
      this.model.params.get('logit_scale')!.dataSync();
      const t2 = performance.now();
      return { loss, gradMs: t1 - t0, adamwMs: t2 - t1 };
    } finally {
      accumulator.dispose();
      for (const g of grads?.values() ?? []) g.dispose();
    }
  }

  dispose(): void {
    if (this.chunks.length > 1) for (const c of this.chunks) c.pixels.dispose();
    this.model.dispose();
    this.pixels.dispose();
    this.optimizer.dispose();
  }
}
