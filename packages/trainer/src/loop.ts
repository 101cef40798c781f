import { type FileHandle, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ProgressListener, silentProgress } from '@qlip/core';
import type * as tf from '@tensorflow/tfjs-core';
import { saveCheckpoint, stepDirName } from './checkpoint.js';
import { Ema } from './ema.js';
import {
  firstNonFinite,
  GradientAccumulator,
  gradientsOf,
  type LossOutput,
  NonFiniteLossError,
} from './gradients.js';
import { AdamW, type AdamWOptions, type AdamWState, clipByGlobalNorm } from './optim.js';

export const METRICS_FILE = 'metrics.jsonl';

/** Where the loop is when it asks the task for a micro-batch's loss. */
export interface MicroContext {
  /** The optimizer step being computed (1-based: the first step is 1). */
  step: number;
  /** Index of this micro-batch within the step (0 .. microBatches - 1). */
  micro: number;
  microBatches: number;
  /** Learning rate of this step. */
  lr: number;
}

/** One micro-batch as the task prepared it (tensors made from host data, frozen forwards). */
export interface MicroBatch {
  /** The loss, run inside the gradient tape of the task's `parameters`. */
  loss(): LossOutput;
  /** After the gradients of `loss` were taken (e.g. an auxiliary network's own step). */
  afterGradients?(): void;
  /** Always called last: free what `microBatch` made. */
  dispose?(): void;
}

/** Where the loop is after the optimizer step (for tasks with a second optimizer, e.g. a discriminator). */
export interface StepContext {
  step: number;
  lr: number;
  /** Throws `NonFiniteLossError` for this step naming `term` (the last good checkpoint in the message). */
  fail(term: string, value: number): never;
}

/**
 * The model-specific half of training, handed to `runTrainingLoop`. The loop owns the optimizer, the
 * schedule, clipping, EMA, checkpoints, metrics and progress; the task owns the model and the data.
 */
export interface TrainingTask<Batch> {
  /** Trained parameters by name: the loop's AdamW updates them, clips their gradients, EMA shadows them. */
  readonly parameters: Map<string, tf.Variable>;
  /** The data, from the resume position on; the loop pulls `microBatches` batches per step. */
  readonly batches: AsyncIterator<Batch>;
  /** Prepare one micro-batch (outside the gradient tape); the loop differentiates its `loss()`. */
  microBatch(batch: Batch, context: MicroContext): MicroBatch;
  /** After the optimizer step; returns extra fields for the metrics line (e.g. discriminator terms). */
  afterUpdate?(context: StepContext): Record<string, unknown> | undefined;
  /** JSON state saved in trainer_state.json (data position, rng, ...); the loop adds `step`. */
  checkpointState(): Record<string, unknown>;
  /** Write the model (and any extra files) into a checkpoint directory; `ema` holds EMA weights when on. */
  save(dir: string, ema: ReadonlyMap<string, tf.Variable> | null): Promise<void>;
  /** The metrics.jsonl line of a step (default: the loop's line as is). */
  metricsLine?(line: LoopStepMetrics): Record<string, unknown>;
  /** Numbers for the progress event of a step besides `lr`, the rate and `eta` (default: the loss terms). */
  progressMetrics?(line: LoopStepMetrics): Record<string, number>;
}

/** What a run continues from (see `readResumePoint`). The loop takes ownership of every tensor. */
export interface LoopResume {
  dir: string;
  /** Optimizer steps completed. */
  step: number;
  optimizer: AdamWState;
  /** EMA shadows by parameter name (those of `parameters` are used, all are disposed). */
  ema?: Map<string, tf.Variable>;
}

export interface TrainingLoopOptions {
  /** Run directory: `step-NNNNNN/` checkpoints, `latest`, `metrics.jsonl`. */
  out: string;
  /** Total optimizer steps (the run stops there). */
  steps: number;
  /** Micro-batches per optimizer step (gradient accumulation; their gradients are averaged). */
  microBatches: number;
  /** Learning rate of 0-based optimizer step `step`. */
  learningRate: (step: number) => number;
  optimizer: AdamWOptions;
  /** Clip the global gradient norm to this (0 = off). */
  clipNorm: number;
  /** EMA decay of the parameters (0 = off). */
  emaDecay: number;
  /** Checkpoint every `every` steps and at the end; keep the newest `keep`. */
  checkpoint: { every: number; keep: number };
  /** Examples per optimizer step (for the rate), and its label in progress events. */
  examplesPerStep: number;
  rateLabel?: string;
  resume?: LoopResume;
  /** Progress events: raw numbers (`lr`, rate, `eta` in seconds); formatting is the caller's. */
  onProgress?: ProgressListener;
  /** Abort between steps: a checkpoint is written and the loop returns `stopped: 'aborted'`. */
  signal?: AbortSignal;
  /** Progress task name (default `train`). */
  progressTask?: string;
}

/** The loop's own metrics line of one step. */
export interface LoopStepMetrics {
  step: number;
  lr: number;
  /** Loss terms (host values, averaged over micro-batches). */
  loss: Record<string, number>;
  /** Effective weights of this step (the last micro-batch's). */
  weights: Record<string, number>;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  seconds: number;
  /** Where the step's time went: waiting for data, forward + backward, clipping + optimizer + EMA. */
  timing: { data: number; gradients: number; update: number };
  examplesPerSecond: number;
  /** Fields returned by the task's `afterUpdate`. */
  extra?: Record<string, unknown>;
}

export interface TrainingLoopResult {
  /** Step the run started from (0, or the resumed checkpoint's). */
  startStep: number;
  /** Steps completed at the end. */
  step: number;
  stopped: 'completed' | 'aborted';
  /** The checkpoint written last (or the resumed one when none was written). */
  checkpoint: string | null;
  /** The last metrics line written. */
  last: Record<string, unknown> | null;
  /** Averages over this invocation's steps after the first (compilation/warm-up excluded when possible). */
  stepsPerSecond: number;
  examplesPerSecond: number;
}

/**
 * The generic training loop: per step, `microBatches` micro-batches (gradients summed then averaged),
 * the non-finite check (naming the step and the term), global-norm clipping, AdamW, EMA, one metrics.jsonl
 * line, a progress event, and an atomic checkpoint every `checkpoint.every` steps and at the end. Resumes
 * exactly from `resume`; stops between steps when `signal` aborts (writing a checkpoint first).
 */
export async function runTrainingLoop<Batch>(
  task: TrainingTask<Batch>,
  options: TrainingLoopOptions,
): Promise<TrainingLoopResult> {
  const run = await LoopRun.start(task, options);
  try {
    return await run.run();
  } finally {
    await run.close();
  }
}

/** One invocation of the loop: its optimizer, EMA, metrics file and counters. */
class LoopRun<Batch> {
  private readonly optimizer: AdamW;
  private readonly ema: Ema | null;
  private readonly emit: ProgressListener;
  private readonly startStep: number;
  private step: number;
  private lastCheckpoint: string | null;
  private last: Record<string, unknown> | null = null;
  private readonly times: number[] = [];

  private constructor(
    private readonly task: TrainingTask<Batch>,
    private readonly options: TrainingLoopOptions,
    private readonly metricsFile: FileHandle,
  ) {
    const resume = options.resume;
    this.optimizer = new AdamW(options.optimizer);
    if (resume) this.optimizer.load(resume.optimizer);
    this.ema = options.emaDecay > 0 ? restoreEma(options.emaDecay, task.parameters, resume?.ema) : null;
    this.emit = options.onProgress ?? silentProgress;
    this.startStep = resume?.step ?? 0;
    this.step = this.startStep;
    this.lastCheckpoint = resume?.dir ?? null;
  }

  static async start<B>(task: TrainingTask<B>, options: TrainingLoopOptions): Promise<LoopRun<B>> {
    const metricsPath = join(options.out, METRICS_FILE);
    const emit = options.onProgress ?? silentProgress;
    const note = (message: string) => emit({ task: options.progressTask ?? 'train', done: 0, message });
    await trimMetrics(metricsPath, options.resume?.step ?? 0, note);
    return new LoopRun(task, options, await open(metricsPath, 'a'));
  }

  async run(): Promise<TrainingLoopResult> {
    let stopped: TrainingLoopResult['stopped'] = 'completed';
    while (this.step < this.options.steps) {
      if (this.options.signal?.aborted) {
        stopped = 'aborted';
        break;
      }
      await this.runStep();
      const { every } = this.options.checkpoint;
      if (this.step % every === 0 || this.step === this.options.steps) await this.writeCheckpoint();
    }
    const saved = this.lastCheckpoint?.endsWith(stepDirName(this.step)) ?? false;
    if (stopped === 'aborted' && this.step > this.startStep && !saved) await this.writeCheckpoint();
    return this.result(stopped);
  }

  async close(): Promise<void> {
    await this.metricsFile.close();
    this.optimizer.dispose();
    this.ema?.dispose();
  }

  private result(stopped: TrainingLoopResult['stopped']): TrainingLoopResult {
    const timed = this.times.length > 1 ? this.times.slice(1) : this.times;
    const mean = timed.length ? timed.reduce((a, b) => a + b, 0) / timed.length : Number.NaN;
    return {
      startStep: this.startStep,
      step: this.step,
      stopped,
      checkpoint: this.lastCheckpoint,
      last: this.last,
      stepsPerSecond: 1 / mean,
      examplesPerSecond: this.options.examplesPerStep / mean,
    };
  }

  /** One optimizer step: micro-batches, checks, update, metrics line, progress event. */
  private async runStep(): Promise<void> {
    const started = performance.now();
    const next = this.step + 1;
    const lr = this.options.learningRate(this.step);
    const timing = { data: 0, gradients: 0, update: 0 };
    const accumulator = new GradientAccumulator();
    try {
      await this.accumulate(accumulator, { step: next, lr }, timing);
      const loss = accumulator.terms();
      const bad = firstNonFinite(loss);
      if (bad) this.fail(next, `loss term "${bad[0]}"`, bad[1]);
      const updateStarted = performance.now();
      const { gradNorm, extra } = this.update(accumulator.mean(), next, lr);
      this.step = next;
      const ended = performance.now();
      timing.update = (ended - updateStarted) / 1000;
      const seconds = (ended - started) / 1000;
      this.times.push(seconds);
      const examplesPerSecond = this.options.examplesPerStep / seconds;
      const line: LoopStepMetrics = {
        step: next,
        lr,
        loss,
        weights: accumulator.weights,
        gradNorm,
        seconds,
        timing,
        examplesPerSecond,
        ...(extra ? { extra } : {}),
      };
      await this.writeLine(line);
      this.emitProgress(line);
    } finally {
      accumulator.dispose();
    }
  }

  /** Pull and differentiate `microBatches` micro-batches into `accumulator`. */
  private async accumulate(
    accumulator: GradientAccumulator,
    at: { step: number; lr: number },
    timing: LoopStepMetrics['timing'],
  ): Promise<void> {
    const microBatches = this.options.microBatches;
    for (let micro = 0; micro < microBatches; micro++) {
      const dataStarted = performance.now();
      const next = await this.task.batches.next();
      if (next.done) throw new Error(`data: the stream ended before step ${at.step}`);
      const gradStarted = performance.now();
      timing.data += (gradStarted - dataStarted) / 1000;
      const prepared = this.task.microBatch(next.value, { ...at, micro, microBatches });
      try {
        accumulator.add(gradientsOf(this.task.parameters, () => prepared.loss()));
        prepared.afterGradients?.();
      } finally {
        prepared.dispose?.();
      }
      timing.gradients += (performance.now() - gradStarted) / 1000;
    }
  }

  /** Clip, AdamW, EMA, then the task's own update; the gradients are disposed here. */
  private update(
    mean: Map<string, tf.Tensor>,
    step: number,
    lr: number,
  ): { gradNorm: number; extra: Record<string, unknown> | undefined } {
    const clipped = clipByGlobalNorm(mean, this.options.clipNorm);
    try {
      if (!Number.isFinite(clipped.norm)) this.fail(step, 'gradient norm', clipped.norm);
      this.optimizer.apply(this.task.parameters, clipped.grads, lr);
      this.ema?.update(this.task.parameters);
      const extra = this.task.afterUpdate?.({
        step,
        lr,
        fail: (term, value) => this.fail(step, term, value),
      });
      return { gradNorm: clipped.norm, extra };
    } finally {
      for (const grad of clipped.grads.values()) grad.dispose();
    }
  }

  private fail(step: number, term: string, value: number): never {
    throw new NonFiniteLossError(step, term, value, this.lastCheckpoint);
  }

  private async writeLine(line: LoopStepMetrics): Promise<void> {
    this.last = this.task.metricsLine ? this.task.metricsLine(line) : { ...line };
    await this.metricsFile.write(`${JSON.stringify(this.last)}\n`);
  }

  private emitProgress(line: LoopStepMetrics): void {
    const recent = this.times.slice(-20);
    const secondsPerStep = recent.reduce((a, b) => a + b, 0) / recent.length;
    this.emit({
      task: this.options.progressTask ?? 'train',
      done: this.step,
      total: this.options.steps,
      unit: 'steps',
      metrics: {
        ...(this.task.progressMetrics ? this.task.progressMetrics(line) : line.loss),
        lr: line.lr,
        [this.options.rateLabel ?? 'examples/s']: Math.round(this.options.examplesPerStep / secondsPerStep),
        eta: (this.options.steps - this.step) * secondsPerStep,
      },
    });
  }

  private async writeCheckpoint(): Promise<void> {
    const ema = this.ema?.shadow ?? null;
    const dir = await saveCheckpoint(this.options.out, {
      step: this.step,
      saveModel: (dir) => this.task.save(dir, ema),
      optimizer: this.optimizer.state,
      state: this.task.checkpointState(),
      keep: this.options.checkpoint.keep,
    });
    this.lastCheckpoint = dir;
    this.emit({
      task: this.options.progressTask ?? 'train',
      done: this.step,
      total: this.options.steps,
      message: `checkpoint ${dir}`,
    });
  }
}

/** EMA over the trainable `parameters`, its shadows restored from a checkpoint (all of `shadow` disposed). */
export function restoreEma(
  decay: number,
  parameters: Map<string, tf.Variable>,
  shadow?: Map<string, tf.Variable>,
): Ema {
  const ema = new Ema(decay, parameters);
  if (shadow) {
    for (const [name, variable] of ema.shadow) variable.assign(shadow.get(name)!);
    for (const variable of shadow.values()) variable.dispose();
  }
  return ema;
}

/**
 * Keep only metrics lines up to `step` (a resumed run rewrites what came after its checkpoint). A torn
 * final line (a write cut short by a crash or a full disk) is dropped and reported; a bad line elsewhere
 * is an error naming the file and the line.
 */
async function trimMetrics(path: string, step: number, note: (message: string) => void): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return;
  }
  const lines = text.split('\n');
  const kept: string[] = [];
  for (const [index, line] of lines.entries()) {
    if (!line.trim()) continue;
    const parsed = parseMetricsLine(line);
    if (parsed !== undefined) {
      if (parsed <= step) kept.push(`${line}\n`);
      continue;
    }
    const last = lines.slice(index + 1).every((rest) => !rest.trim());
    if (!last) throw new Error(`${path}: line ${index + 1} is not a metrics record (${line.slice(0, 60)})`);
    note(`${path}: dropped a torn last line (${line.length} bytes, an interrupted write)`);
  }
  await writeFile(path, kept.join(''));
}

/** The `step` of one metrics.jsonl line, or undefined when the line is not a complete record. */
function parseMetricsLine(line: string): number | undefined {
  try {
    const step = (JSON.parse(line) as { step?: unknown } | null)?.step;
    return typeof step === 'number' ? step : undefined;
  } catch {
    return undefined;
  }
}
