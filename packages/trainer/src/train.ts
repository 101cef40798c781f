import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ProgressListener, silentProgress } from '@qlip/core';
import { type Batch, createDataset, type DataPosition } from '@qlip/data';
import { type FeatureNetwork, ganActive, PatchGanDiscriminator, PerceptualLoss } from '@qlip/losses';
import { QLIPModel } from '@qlip/model';
import { ClipTokenizer } from '@qlip/text-encoder';
import * as tf from '@tensorflow/tfjs-core';
import { saveCheckpoint, stepDirName, writeOptimizerState } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import { type InitReport, initModel } from './init.js';
import { AdamW, clipByGlobalNorm, defaultNoDecay } from './optim.js';
import {
  balancerConfig,
  DISCRIMINATOR_FILE,
  DISCRIMINATOR_OPTIMIZER_FILE,
  discriminatorConfig,
  EMA_DIR,
  GuardedBalancer,
  loadResume,
  type Resumed,
  restoreEma,
  restoreRng,
  type TrainerState,
} from './run-state.js';
import { learningRate } from './schedule.js';
import {
  discriminatorMicro,
  isStage2Trainable,
  type MicroStep,
  SubsetPerceptual,
  stage1Micro,
  stage2Micro,
} from './steps.js';

export const METRICS_FILE = 'metrics.jsonl';

export interface TrainOptions {
  /** Run directory: `step-NNNNNN/` checkpoints, `latest`, `metrics.jsonl`. */
  out: string;
  /** Start from an official QLIP checkpoint, one of ours, or a CLIP-style HF checkpoint. */
  init?: string;
  /** Continue from a checkpoint directory or a run directory (its latest checkpoint). */
  resume?: string;
  onProgress?: ProgressListener;
  /** Abort between steps: a checkpoint is written and the run returns with `stopped: 'aborted'`. */
  signal?: AbortSignal;
}

/** One line of metrics.jsonl. */
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

export interface TrainResult {
  out: string;
  stage: 1 | 2;
  /** Step the run started from (0, or the resumed checkpoint's). */
  startStep: number;
  /** Steps completed at the end. */
  step: number;
  steps: number;
  stopped: 'completed' | 'aborted';
  /** The checkpoint written last. */
  checkpoint: string | null;
  init: InitReport | null;
  resumedFrom: string | null;
  parameters: { total: number; trainable: number };
  last: StepMetrics | null;
  /** Averages over this invocation's steps after the first (compilation/warm-up excluded when possible). */
  stepsPerSecond: number;
  imagesPerSecond: number;
}

/** A loss term or the gradient norm was NaN/Inf: the run stops, the last good checkpoint stays. */
export class NonFiniteLossError extends Error {
  constructor(
    readonly step: number,
    readonly term: string,
    readonly value: number,
    readonly lastCheckpoint: string | null,
  ) {
    super(
      `non-finite loss at step ${step}: ${term} = ${value}; training stopped. ` +
        (lastCheckpoint
          ? `The last good checkpoint is ${lastCheckpoint} (resume from it with a lower learning rate or other settings).`
          : 'No checkpoint had been written yet.'),
    );
    this.name = 'NonFiniteLossError';
  }
}

function addGrads(acc: Map<string, tf.Tensor> | null, g: Map<string, tf.Tensor>): Map<string, tf.Tensor> {
  if (!acc) return g;
  for (const [k, t] of g) {
    const prev = acc.get(k)!;
    acc.set(k, tf.add(prev, t));
    prev.dispose();
    t.dispose();
  }
  return acc;
}

function scaleGrads(g: Map<string, tf.Tensor>, s: number): void {
  if (s === 1) return;
  for (const [k, t] of g) {
    g.set(k, tf.mul(t, s));
    t.dispose();
  }
}

function disposeGrads(g: Map<string, tf.Tensor> | null): void {
  for (const t of g?.values() ?? []) t.dispose();
}

function meanTerms(all: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of all) for (const [k, v] of Object.entries(t)) out[k] = (out[k] ?? 0) + v / all.length;
  return out;
}

/** The first non-finite entry, e.g. `loss.reconstruction`. */
function firstNonFinite(named: Record<string, number>): [string, number] | null {
  for (const [k, v] of Object.entries(named)) if (!Number.isFinite(v)) return [k, v];
  return null;
}

/** Keep only metrics lines up to `step` (a resumed run rewrites what came after its checkpoint). */
async function trimMetrics(path: string, step: number): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return;
  }
  const kept = text
    .split('\n')
    .filter((l) => l.trim() && (JSON.parse(l) as { step: number }).step <= step)
    .map((l) => `${l}\n`)
    .join('');
  await writeFile(path, kept);
}

/**
 * The frozen CNN of the perceptual term, from @qlip/feature-nets (a dependency of this package; imported
 * lazily so stage 1 never loads TensorFlow.js layers or the weights).
 */
async function perceptualNetwork(
  name: 'mobilenet_v2' | 'inception_v3',
): Promise<FeatureNetwork & { dispose(): void }> {
  const specifier = '@qlip/feature-nets';
  const mod = (await import(specifier)) as {
    loadFeatureNet(
      n: string,
    ): Promise<{ stages: readonly string[]; layers(x: tf.Tensor4D): tf.Tensor[]; dispose(): void }>;
  };
  const net = await mod.loadFeatureNet(name);
  return { layers: (x) => net.layers(x) as tf.Tensor4D[], dispose: () => net.dispose() };
}

function fmtEta(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
    : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/**
 * Train QLIP (stage 1 or 2) as `config` says, writing checkpoints and metrics under `opts.out`.
 * Stage 1 trains every parameter with MSE reconstruction + BSQ + contrastive (dynamic balancing of
 * reconstruction vs contrastive, BSQ at a fixed weight). Stage 2 trains only quant_embed_post and the
 * decoder (the vision encoder, quant_embed, projections and text tower stay bit-identical) with
 * reconstruction + perceptual + adversarial loss against a PatchGAN with its own AdamW.
 */
export async function train(config: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  const emit = opts.onProgress ?? silentProgress;
  const cfg = config;
  await mkdir(opts.out, { recursive: true });

  let resumed: Resumed | undefined;
  let model: QLIPModel;
  let initReport: InitReport | null = null;
  if (opts.resume) {
    if (opts.init)
      throw new Error('give either --init or --resume, not both (a resumed run has its own weights)');
    resumed = await loadResume(opts.resume, cfg);
    model = resumed.model;
    emit({
      task: 'train',
      done: resumed.state.step,
      message: `resuming from ${resumed.dir} (step ${resumed.state.step})`,
    });
  } else {
    const r = await initModel(cfg.model, cfg.seed, opts.init);
    model = r.model;
    initReport = r.report ?? null;
    if (initReport) {
      emit({
        task: 'train',
        done: 0,
        message: `init from ${initReport.dir} (${initReport.kind}): ${initReport.loaded.length} tensors loaded, ${initReport.initialised.length} freshly initialised, ${initReport.ignored.length} ignored`,
      });
    } else if (cfg.stage === 2) {
      emit({
        task: 'train',
        done: 0,
        message: 'stage 2 without --init: fine-tuning a randomly initialised decoder',
      });
    }
  }
  const runConfig: TrainConfig = { ...cfg, model: model.config as TrainConfig['model'] };
  const stage = cfg.stage;
  const trainable = new Map([...model.params].filter(([k]) => stage === 1 || isStage2Trainable(k)));
  let trainableCount = 0;
  for (const v of trainable.values()) trainableCount += v.size;
  const totalCount = model.parameterCount();

  const start = resumed?.state.step ?? 0;
  let position: DataPosition = resumed?.state.data ?? { epoch: 0, index: 0 };
  const rng = restoreRng(resumed?.state, cfg.seed);
  const o = cfg.optimizer;
  const adamOpts = {
    beta1: o.betas[0],
    beta2: o.betas[1],
    eps: o.eps,
    weightDecay: o.weightDecay,
    noDecay: o.noDecay === 'default' ? defaultNoDecay : undefined,
  };
  const optimizer = new AdamW(adamOpts);
  if (resumed) optimizer.load(resumed.optimizer);
  const balCfg = stage === 1 ? balancerConfig(cfg) : null;
  const balancer = balCfg ? new GuardedBalancer(balCfg, resumed?.state.balancer ?? undefined) : null;
  const ema = cfg.ema.decay > 0 ? restoreEma(cfg.ema.decay, trainable, resumed?.emaShadow) : null;

  // Stage 2 parts.
  const s2 = cfg.loss.stage2;
  let disc: PatchGanDiscriminator | undefined;
  let discOpt: AdamW | undefined;
  let perceptual: PerceptualLoss | undefined;
  let perceptualNet: { dispose(): void } | undefined;
  if (stage === 2) {
    if (s2.ganWeight > 0) {
      disc = resumed?.discriminator?.net ?? PatchGanDiscriminator.create(rng, discriminatorConfig(cfg));
      discOpt = new AdamW({ ...adamOpts, weightDecay: 0, noDecay: undefined });
      if (resumed?.discriminator) discOpt.load(resumed.discriminator.optimizer);
    }
    if (s2.perceptualWeight > 0) {
      const net = await perceptualNetwork(s2.perceptualNetwork);
      perceptualNet = net;
      perceptual = new SubsetPerceptual(new PerceptualLoss(net), s2.perceptualImages);
    }
  }

  const ds = await createDataset(cfg.data);
  const batches = ds.batches(position)[Symbol.asyncIterator]();
  const tokenizer = stage === 1 ? ClipTokenizer.default() : null;
  const ctx = model.config.text_config.max_position_embeddings;
  const schedule = {
    lr: o.lr,
    warmupSteps: cfg.schedule.warmupSteps,
    totalSteps: cfg.schedule.totalSteps ?? cfg.steps,
    minLr: cfg.schedule.minLr,
    kind: cfg.schedule.kind,
  };
  const metricsPath = join(opts.out, METRICS_FILE);
  await trimMetrics(metricsPath, start);
  const metricsFile = await open(metricsPath, 'a');

  let lastCheckpoint: string | null = resumed?.dir ?? null;
  let last: StepMetrics | null = null;
  let step = start;
  let stopped: TrainResult['stopped'] = 'completed';
  const times: number[] = [];
  const imagesPerStep = cfg.data.batchSize * o.gradAccum;

  const nextBatch = async (): Promise<Batch> => {
    const r = await batches.next();
    if (r.done)
      throw new Error(
        `data: the stream ended at ${JSON.stringify(position)} (set data.epochs higher or leave it unset)`,
      );
    return r.value;
  };

  const writeCheckpoint = async (): Promise<string> => {
    const state: TrainerState = {
      version: 1,
      stage,
      step,
      config: runConfig,
      data: position,
      rng: rng.state,
      balancer: balancer?.state ?? null,
      init: initReport ? { kind: initReport.kind, dir: initReport.dir } : (resumed?.state.init ?? null),
    };
    const dir = await saveCheckpoint(opts.out, {
      step,
      saveModel: (d) => model.save(d),
      optimizer: optimizer.state,
      state: state as unknown as Record<string, unknown>,
      keep: cfg.checkpoint.keep,
      extraFiles: async (d) => {
        if (disc && discOpt) {
          await disc.save(join(d, DISCRIMINATOR_FILE));
          await writeOptimizerState(join(d, DISCRIMINATOR_OPTIMIZER_FILE), discOpt.state);
        }
        if (ema) {
          const mixed = new Map(model.params);
          for (const [k, v] of ema.shadow) mixed.set(k, v);
          await QLIPModel.fromParams(model.config, mixed).save(join(d, EMA_DIR));
        }
      },
    });
    emit({ task: 'train', done: step, total: cfg.steps, message: `checkpoint ${dir}` });
    return dir;
  };

  try {
    while (step < cfg.steps) {
      if (opts.signal?.aborted) {
        stopped = 'aborted';
        break;
      }
      const t0 = performance.now();
      const next = step + 1;
      const lr = learningRate(schedule, step);
      const inject = cfg.debug.nanAtStep === next;
      let grads: Map<string, tf.Tensor> | null = null;
      let discGrads: Map<string, tf.Tensor> | null = null;
      const terms: Record<string, number>[] = [];
      const discTerms: Record<string, number>[] = [];
      let weights: Record<string, number> = {};
      let epoch = position.epoch;
      const timing = { data: 0, gradients: 0, update: 0 };
      try {
        for (let micro = 0; micro < o.gradAccum; micro++) {
          const tData = performance.now();
          const b = await nextBatch();
          const tGrad = performance.now();
          timing.data += (tGrad - tData) / 1000;
          const pixels = tf.tensor4d(b.images, b.shape);
          let r: MicroStep;
          try {
            if (stage === 1) {
              // The balancer folds in the first micro-batch's values; the others reuse its weights.
              const w = cfg.loss.stage1.weights;
              const weighting =
                balancer && micro === 0
                  ? balancer
                  : ((balancer?.weights ?? { ...w }) as {
                      reconstruction: number;
                      bsq: number;
                      contrastive: number;
                    });
              r = stage1Micro(
                model,
                trainable,
                cfg,
                pixels,
                tokenizer!.tokenize(b.captions, ctx),
                b.captions,
                weighting,
                inject,
              );
            } else {
              const g = stage2Micro(
                model,
                trainable,
                cfg,
                pixels,
                { perceptual, discriminator: disc },
                next,
                inject,
              );
              r = g;
              if (disc && ganActive(next, s2.ganStart)) {
                const d = discriminatorMicro(disc, cfg, g.real, g.fake, next);
                discGrads = addGrads(discGrads, d.grads);
                discTerms.push(d.terms);
              }
              g.real.dispose();
              g.fake.dispose();
            }
          } finally {
            pixels.dispose();
          }
          grads = addGrads(grads, r.grads);
          timing.gradients += (performance.now() - tGrad) / 1000;
          terms.push(r.terms);
          weights = r.weights;
          position = b.position;
          epoch = b.position.epoch;
        }
        const loss = meanTerms(terms);
        const bad = firstNonFinite(loss);
        if (bad) throw new NonFiniteLossError(next, `loss term "${bad[0]}"`, bad[1], lastCheckpoint);
        const tUpdate = performance.now();
        scaleGrads(grads!, 1 / o.gradAccum);
        const clipped = clipByGlobalNorm(grads!, o.clipNorm);
        grads = clipped.grads;
        if (!Number.isFinite(clipped.norm)) {
          throw new NonFiniteLossError(next, 'gradient norm', clipped.norm, lastCheckpoint);
        }
        optimizer.apply(model.params, grads, lr);
        ema?.update(model.params);
        let discLoss: Record<string, number> | undefined;
        if (discGrads && disc && discOpt) {
          scaleGrads(discGrads, 1 / o.gradAccum);
          discLoss = meanTerms(discTerms);
          const badD = firstNonFinite(discLoss);
          if (badD)
            throw new NonFiniteLossError(next, `discriminator term "${badD[0]}"`, badD[1], lastCheckpoint);
          discOpt.apply(disc.params, discGrads, (s2.discriminator.lr ?? o.lr) * (lr / o.lr));
        }
        step = next;
        const tEnd = performance.now();
        timing.update = (tEnd - tUpdate) / 1000;
        const seconds = (tEnd - t0) / 1000;
        times.push(seconds);
        last = {
          step,
          stage,
          lr,
          loss,
          weights,
          gradNorm: clipped.norm,
          ...(discLoss ? { discriminator: discLoss } : {}),
          seconds,
          timing,
          imagesPerSecond: imagesPerStep / seconds,
          epoch,
        };
        await metricsFile.write(`${JSON.stringify(last)}\n`);
      } finally {
        disposeGrads(grads);
        disposeGrads(discGrads);
      }
      const recent = times.slice(-20);
      const avg = recent.reduce((a, b) => a + b, 0) / recent.length;
      emit({
        task: 'train',
        done: step,
        total: cfg.steps,
        unit: 'steps',
        metrics: {
          loss: last.loss.total ?? 0,
          ...(stage === 1
            ? {
                rec: last.loss.reconstruction ?? 0,
                con: last.loss.contrastive ?? 0,
                bsq: last.loss.bsq ?? 0,
                w_rec: weights.reconstruction ?? 0,
                w_con: weights.contrastive ?? 0,
              }
            : {
                rec: last.loss.reconstruction ?? 0,
                perc: last.loss.perceptual ?? 0,
                gen: last.loss.generator ?? 0,
                disc: last.discriminator?.total ?? 0,
              }),
          lr,
          'img/s': Math.round(imagesPerStep / avg),
          eta: fmtEta((cfg.steps - step) * avg),
        },
      });
      if (step % cfg.checkpoint.every === 0 || step === cfg.steps) lastCheckpoint = await writeCheckpoint();
    }
    if (stopped === 'aborted' && step > start && !lastCheckpoint?.endsWith(stepDirName(step))) {
      lastCheckpoint = await writeCheckpoint();
    }
  } finally {
    await metricsFile.close();
    await batches.return?.(undefined);
    optimizer.dispose();
    discOpt?.dispose();
    disc?.dispose();
    perceptual?.dispose();
    perceptualNet?.dispose();
    ema?.dispose();
    model.dispose();
  }
  const timed = times.length > 1 ? times.slice(1) : times;
  const mean = timed.length ? timed.reduce((a, b) => a + b, 0) / timed.length : Number.NaN;
  return {
    out: opts.out,
    stage,
    startStep: start,
    step,
    steps: cfg.steps,
    stopped,
    checkpoint: lastCheckpoint,
    init: initReport,
    resumedFrom: resumed?.dir ?? null,
    parameters: { total: totalCount, trainable: trainableCount },
    last,
    stepsPerSecond: 1 / mean,
    imagesPerSecond: imagesPerStep / mean,
  };
}
