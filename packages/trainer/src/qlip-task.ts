import { join } from 'node:path';
import { type Rng, SkipTally } from '@qlip/core';
import { type Batch, createDataset, type DataPosition } from '@qlip/data';
import { defaultFeatureNetwork, PatchGanDiscriminator, PerceptualLoss } from '@qlip/losses';
import { QLIPModel } from '@qlip/model';
import { ClipBpe } from '@qlip/text-encoder';
import type * as tf from '@tensorflow/tfjs-core';
import { writeOptimizerState } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import { firstNonFinite, GradientAccumulator } from './gradients.js';
import type { InitReport } from './init.js';
import type { LoopStepMetrics, MicroBatch, MicroContext, StepContext, TrainingTask } from './loop.js';
import { AdamW, type AdamWOptions, defaultNoDecay } from './optim.js';
import {
  balancerConfig,
  DISCRIMINATOR_FILE,
  DISCRIMINATOR_OPTIMIZER_FILE,
  discriminatorConfig,
  EMA_DIR,
  GuardedBalancer,
  type Resumed,
  type TrainerState,
} from './run-state.js';
import type { LrTail } from './schedule.js';
import {
  isStage2Trainable,
  type Stage2Parts,
  SubsetPerceptual,
  stage1MicroBatch,
  stage2MicroBatch,
} from './steps.js';

/** One line of metrics.jsonl of a QLIP run. */
export interface StepMetrics {
  step: number;
  stage: 1 | 2;
  lr: number;
  /** Loss terms (host values, averaged over micro-batches). */
  loss: Record<string, number>;
  /** Effective weights of this step (balanced terms included). */
  weights: Record<string, number>;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Discriminator terms (stage 2 with a GAN). */
  discriminator?: Record<string, number>;
  seconds: number;
  /** Where the step's time went: waiting for data, forward + backward, clipping + optimizer + EMA. */
  timing: { data: number; gradients: number; update: number };
  imagesPerSecond: number;
  epoch: number;
}

/** Where a QLIP run starts: its model and, when resumed, the checkpoint's state. */
export interface QlipStart {
  model: QLIPModel;
  init: InitReport | null;
  resumed?: Resumed;
  rng: Rng;
  /** The cosine tail of an extended run (`--extend`), kept in trainer_state.json. */
  lrTail?: LrTail | null;
}

/** AdamW settings of the run's config. */
export function adamOptions(cfg: TrainConfig): AdamWOptions {
  const settings = cfg.optimizer;
  return {
    beta1: settings.betas[0],
    beta2: settings.betas[1],
    eps: settings.eps,
    weightDecay: settings.weightDecay,
    noDecay: settings.noDecay === 'default' ? defaultNoDecay : undefined,
  };
}

/**
 * QLIP stage 1 or 2 as a `TrainingTask`: the trained parameters (all of them in stage 1; quant_embed_post
 * and the decoder in stage 2), the data stream, the balancer (stage 1), the perceptual network and the
 * PatchGAN discriminator with its own AdamW (stage 2), and what a checkpoint holds besides the loop's.
 */
export class QlipTask implements TrainingTask<Batch> {
  readonly parameters: Map<string, tf.Variable>;
  readonly batches: AsyncIterator<Batch>;
  /** Samples the data pipeline left out (corrupt, truncated shard, member too large...), by reason. */
  readonly skips = new SkipTally();
  private position: DataPosition;
  private readonly balancer: GuardedBalancer | null;
  private readonly bpe: ClipBpe | null;
  private readonly stage2: Stage2Parts & { optimizer?: AdamW; perceptualNet?: { dispose(): void } } = {};
  private readonly runConfig: TrainConfig;

  private constructor(
    private readonly cfg: TrainConfig,
    private readonly start: QlipStart,
    batches: AsyncIterator<Batch>,
  ) {
    const { model, resumed } = start;
    this.runConfig = { ...cfg, model: model.config as TrainConfig['model'] };
    this.parameters = new Map([...model.params].filter(([k]) => cfg.stage === 1 || isStage2Trainable(k)));
    this.position = resumed?.state.data ?? { epoch: 0, index: 0 };
    const balance = cfg.stage === 1 ? balancerConfig(cfg) : null;
    this.balancer = balance ? new GuardedBalancer(balance, resumed?.state.balancer ?? undefined) : null;
    this.bpe = cfg.stage === 1 ? ClipBpe.default() : null;
    this.batches = this.checkedStream(batches);
  }

  static async create(cfg: TrainConfig, start: QlipStart): Promise<QlipTask> {
    const position = start.resumed?.state.data ?? { epoch: 0, index: 0 };
    const dataset = await createDataset(cfg.data);
    const task = new QlipTask(cfg, start, dataset.batches(position)[Symbol.asyncIterator]());
    dataset.onSkip((e) =>
      task.skips.add({ path: `${e.source}: ${e.key}`, reason: e.reason, detail: e.detail }),
    );
    try {
      if (cfg.stage === 2) await task.createStage2Parts();
    } catch (err) {
      await task.close();
      throw err;
    }
    return task;
  }

  private async createStage2Parts(): Promise<void> {
    const settings = this.cfg.loss.stage2;
    const resumed = this.start.resumed;
    if (settings.ganWeight > 0) {
      this.stage2.discriminator =
        resumed?.discriminator?.net ??
        PatchGanDiscriminator.create(this.start.rng, discriminatorConfig(this.cfg));
      this.stage2.optimizer = new AdamW({ ...adamOptions(this.cfg), weightDecay: 0, noDecay: undefined });
      if (resumed?.discriminator) this.stage2.optimizer.load(resumed.discriminator.optimizer);
      this.stage2.discriminatorGradients = new GradientAccumulator();
    }
    if (settings.perceptualWeight > 0) {
      // @qlip/losses loads @qlip/feature-nets on first use: stage 1 never loads tfjs-layers or the weights.
      const net = await defaultFeatureNetwork(settings.perceptualNetwork);
      this.stage2.perceptualNet = net;
      this.stage2.perceptual = new SubsetPerceptual(new PerceptualLoss(net), settings.perceptualImages);
    }
  }

  /** The dataset's batches, failing with the stream position when it runs dry. */
  private checkedStream(batches: AsyncIterator<Batch>): AsyncIterator<Batch> {
    return {
      next: async () => {
        const next = await batches.next();
        if (!next.done) return next;
        throw new Error(
          `data: the stream ended at ${JSON.stringify(this.position)} (set data.epochs higher or leave it unset)`,
        );
      },
      return: async (value?: unknown) => (await batches.return?.(value)) ?? { done: true, value: undefined },
    };
  }

  microBatch(batch: Batch, context: MicroContext): MicroBatch {
    const model = this.start.model;
    let prepared: MicroBatch;
    if (this.cfg.stage === 1) {
      const ids = this.bpe!.tokenize(batch.captions, model.config.text_config.max_position_embeddings);
      prepared = stage1MicroBatch(model, this.cfg, batch, ids, this.stage1Weighting(context.micro), context);
    } else {
      prepared = stage2MicroBatch(model, this.cfg, batch, this.stage2, context);
    }
    this.position = batch.position;
    return prepared;
  }

  /** The balancer folds in the first micro-batch's values; the others reuse its weights. */
  private stage1Weighting(micro: number) {
    if (this.balancer && micro === 0) return this.balancer;
    const fixed = this.balancer?.weights ?? { ...this.cfg.loss.stage1.weights };
    return fixed as { reconstruction: number; bsq: number; contrastive: number };
  }

  /** Stage 2 with a GAN: the discriminator's AdamW step on its averaged gradients. */
  afterUpdate(context: StepContext): Record<string, unknown> | undefined {
    const { discriminator, discriminatorGradients: sums, optimizer } = this.stage2;
    if (!discriminator || !sums?.hasGradients() || !optimizer) return undefined;
    const terms = sums.terms();
    const grads = sums.mean();
    try {
      const bad = firstNonFinite(terms);
      if (bad) context.fail(`discriminator term "${bad[0]}"`, bad[1]);
      const peak = this.cfg.optimizer.lr;
      const lr = (this.cfg.loss.stage2.discriminator.lr ?? peak) * (context.lr / peak);
      optimizer.apply(discriminator.params, grads, lr);
    } finally {
      for (const grad of grads.values()) grad.dispose();
    }
    return { discriminator: terms };
  }

  checkpointState(): Record<string, unknown> {
    const resumed = this.start.resumed;
    const init = this.start.init;
    const state: Omit<TrainerState, 'step'> = {
      version: 1,
      stage: this.cfg.stage,
      config: this.runConfig,
      data: this.position,
      rng: this.start.rng.state,
      balancer: this.balancer?.state ?? null,
      init: init ? { kind: init.kind, dir: init.dir } : (resumed?.state.init ?? null),
      ...(this.start.lrTail ? { lrTail: this.start.lrTail } : {}),
    };
    return state;
  }

  async save(dir: string, ema: ReadonlyMap<string, tf.Variable> | null): Promise<void> {
    const model = this.start.model;
    await model.save(dir);
    const { discriminator, optimizer } = this.stage2;
    if (discriminator && optimizer) {
      await discriminator.save(join(dir, DISCRIMINATOR_FILE));
      await writeOptimizerState(join(dir, DISCRIMINATOR_OPTIMIZER_FILE), optimizer.state);
    }
    if (ema) {
      const mixed = new Map(model.params);
      for (const [name, shadow] of ema) mixed.set(name, shadow);
      await QLIPModel.fromParams(model.config, mixed).save(join(dir, EMA_DIR));
    }
  }

  metricsLine(line: LoopStepMetrics): Record<string, unknown> {
    const discriminator = line.extra?.discriminator as Record<string, number> | undefined;
    const out: StepMetrics = {
      step: line.step,
      stage: this.cfg.stage,
      lr: line.lr,
      loss: line.loss,
      weights: line.weights,
      gradNorm: line.gradNorm,
      ...(discriminator ? { discriminator } : {}),
      seconds: line.seconds,
      timing: line.timing,
      imagesPerSecond: line.examplesPerSecond,
      epoch: this.position.epoch,
    };
    return out as unknown as Record<string, unknown>;
  }

  progressMetrics(line: LoopStepMetrics): Record<string, number> {
    const loss = line.loss;
    if (this.cfg.stage === 1) {
      return {
        loss: loss.total ?? 0,
        rec: loss.reconstruction ?? 0,
        con: loss.contrastive ?? 0,
        bsq: loss.bsq ?? 0,
        w_rec: line.weights.reconstruction ?? 0,
        w_con: line.weights.contrastive ?? 0,
      };
    }
    const discriminator = line.extra?.discriminator as Record<string, number> | undefined;
    return {
      loss: loss.total ?? 0,
      rec: loss.reconstruction ?? 0,
      perc: loss.perceptual ?? 0,
      gen: loss.generator ?? 0,
      disc: discriminator?.total ?? 0,
    };
  }

  /** Free the data stream and every network (the model included). */
  async close(): Promise<void> {
    await this.batches.return?.(undefined);
    this.stage2.discriminatorGradients?.dispose();
    this.stage2.optimizer?.dispose();
    this.stage2.discriminator?.dispose();
    this.stage2.perceptual?.dispose();
    this.stage2.perceptualNet?.dispose();
    this.start.model.dispose();
  }
}
