import { type ProgressListener, type SkipSummary, silentProgress } from '@qlip/core';
import type { TrainConfig } from './config.js';
import { type InitReport, initModel } from './init.js';
import { type LoopResume, runTrainingLoop, type TrainingLoopOptions } from './loop.js';
import { adamOptions, type QlipStart, QlipTask, type StepMetrics } from './qlip-task.js';
import { openRunDirectory } from './run-dir.js';
import { loadResume, restoreRng } from './run-state.js';
import { type LrSchedule, type LrTail, learningRate, resumeSchedule } from './schedule.js';

export interface TrainOptions {
  /** Run directory: `step-NNNNNN/` checkpoints, `latest`, `metrics.jsonl`. */
  out: string;
  /** Start from an official QLIP checkpoint, one of ours, or a CLIP-style HF checkpoint. */
  init?: string;
  /** Continue from a checkpoint directory or a run directory (its latest checkpoint). */
  resume?: string;
  /** Progress events (raw numbers: `lr`, `img/s`, `eta` in seconds). */
  onProgress?: ProgressListener;
  /** Abort between steps: a checkpoint is written and the run returns with `stopped: 'aborted'`. */
  signal?: AbortSignal;
  /** Replace a previous run in a non-empty `out` (without it, and without `resume`, a non-empty `out` is refused). */
  overwrite?: boolean;
  /**
   * With `resume` and a schedule that now ends at another step (e.g. a larger `steps`): rebuild the cosine
   * tail from the current step and rate. Without it such a resume is refused (the rate would jump).
   */
  extend?: boolean;
  /** Recorded in the run folder's lock file (default "qlip train"). */
  command?: string;
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
  /** Samples the data pipeline left out, counted by reason, the first few listed (nothing is dropped silently). */
  skipped: SkipSummary;
}

/** The learning-rate schedule of a config (and the cosine tail of an extended run). */
function scheduleOf(cfg: TrainConfig, tail: LrTail | null = null): LrSchedule {
  return {
    lr: cfg.optimizer.lr,
    warmupSteps: cfg.schedule.warmupSteps,
    totalSteps: cfg.schedule.totalSteps ?? cfg.steps,
    minLr: cfg.schedule.minLr,
    kind: cfg.schedule.kind,
    tail,
  };
}

/**
 * The model a run starts from: the resumed checkpoint's, `--init`'s, or a fresh one (each announced).
 */
async function startingPoint(
  cfg: TrainConfig,
  opts: TrainOptions,
  emit: ProgressListener,
): Promise<QlipStart> {
  const note = (message: string) => emit({ task: 'train', done: 0, message });
  if (opts.extend && !opts.resume) throw new Error('--extend continues a run: give --resume too');
  if (opts.resume) {
    if (opts.init)
      throw new Error('give either --init or --resume, not both (a resumed run has its own weights)');
    const resumed = await loadResume(opts.resume, cfg, note);
    const start: QlipStart = {
      model: resumed.model,
      init: null,
      resumed,
      rng: restoreRng(resumed.state, cfg.seed),
    };
    try {
      const old = scheduleOf(resumed.state.config, resumed.state.lrTail ?? null);
      const schedule = resumeSchedule(old, scheduleOf(cfg), resumed.state.step, opts.extend ?? false);
      start.lrTail = schedule.tail;
      if (schedule.note) note(schedule.note);
    } catch (err) {
      disposeStart(start);
      throw new Error(`--resume ${resumed.dir}: ${(err as Error).message}`);
    }
    emit({
      task: 'train',
      done: resumed.state.step,
      message: `resuming from ${resumed.dir} (step ${resumed.state.step})`,
    });
    return start;
  }
  const { model, report } = await initModel(cfg.model, cfg.seed, opts.init);
  if (report) {
    const counts = `${report.loaded.length} tensors loaded, ${report.initialised.length} freshly initialised, ${report.ignored.length} ignored`;
    note(`init from ${report.dir} (${report.kind}): ${counts}`);
  } else if (cfg.stage === 2) {
    note('stage 2 without --init: fine-tuning a randomly initialised decoder');
  }
  return { model, init: report ?? null, rng: restoreRng(undefined, cfg.seed) };
}

/** Free a starting point that never reached the loop (its model, resumed optimizer moments and EMA). */
function disposeStart(start: QlipStart): void {
  start.model.dispose();
  const resumed = start.resumed;
  if (!resumed) return;
  for (const t of [...resumed.optimizer.m.values(), ...resumed.optimizer.v.values()]) t.dispose();
  for (const v of resumed.emaShadow?.values() ?? []) v.dispose();
  resumed.discriminator?.net.dispose();
}

/** The generic loop's settings for a QLIP config. */
function loopOptions(cfg: TrainConfig, opts: TrainOptions, start: QlipStart): TrainingLoopOptions {
  const resumed = start.resumed;
  const resume: LoopResume | undefined = resumed && {
    dir: resumed.dir,
    step: resumed.state.step,
    optimizer: resumed.optimizer,
    ema: resumed.emaShadow,
  };
  const schedule = scheduleOf(cfg, start.lrTail ?? null);
  return {
    out: opts.out,
    steps: cfg.steps,
    microBatches: cfg.optimizer.gradAccum,
    learningRate: (step) => learningRate(schedule, step),
    optimizer: adamOptions(cfg),
    clipNorm: cfg.optimizer.clipNorm,
    emaDecay: cfg.ema.decay,
    checkpoint: cfg.checkpoint,
    examplesPerStep: cfg.data.batchSize * cfg.optimizer.gradAccum,
    rateLabel: 'img/s',
    resume,
    onProgress: opts.onProgress,
    signal: opts.signal,
  };
}

/**
 * Train QLIP (stage 1 or 2) as `config` says, writing checkpoints and metrics under `opts.out`: the QLIP
 * stage definition (`QlipTask`) run by the generic loop (`runTrainingLoop`).
 * Stage 1 trains every parameter with MSE reconstruction + BSQ + contrastive (dynamic balancing of
 * reconstruction vs contrastive, BSQ at a fixed weight). Stage 2 trains only quant_embed_post and the
 * decoder (the vision encoder, quant_embed, projections and text tower stay bit-identical) with
 * reconstruction + perceptual + adversarial loss against a PatchGAN with its own AdamW.
 */
export async function train(config: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  const emit = opts.onProgress ?? silentProgress;
  const lock = await openRunDirectory(opts.out, {
    resume: opts.resume !== undefined,
    overwrite: opts.overwrite,
    command: opts.command ?? 'qlip train',
    onNote: (message) => emit({ task: 'train', done: 0, message }),
  });
  try {
    const start = await startingPoint(config, opts, emit);
    let task: QlipTask;
    try {
      task = await QlipTask.create(config, start);
    } catch (err) {
      disposeStart(start);
      throw err;
    }
    try {
      return await trainWith(task, config, opts, start);
    } finally {
      await task.close();
    }
  } finally {
    await lock.release();
  }
}

/** Run the loop on a QLIP task and describe the result. */
async function trainWith(
  task: QlipTask,
  config: TrainConfig,
  opts: TrainOptions,
  start: QlipStart,
): Promise<TrainResult> {
  const total = start.model.parameterCount();
  let trainable = 0;
  for (const v of task.parameters.values()) trainable += v.size;
  const outcome = await runTrainingLoop(task, loopOptions(config, opts, start));
  return {
    out: opts.out,
    stage: config.stage,
    startStep: outcome.startStep,
    step: outcome.step,
    steps: config.steps,
    stopped: outcome.stopped,
    checkpoint: outcome.checkpoint,
    init: start.init,
    resumedFrom: start.resumed?.dir ?? null,
    parameters: { total, trainable },
    last: outcome.last as unknown as StepMetrics | null,
    stepsPerSecond: outcome.stepsPerSecond,
    imagesPerSecond: outcome.examplesPerSecond,
    skipped: task.skips.summary(),
  };
}
