import { join } from 'node:path';
import { type ConfigLayer, Rng } from '@qlip/core';
import type { DataPosition } from '@qlip/data';
import {
  type BalancerConfig,
  type BalancerState,
  LossBalancer,
  PatchGanDiscriminator,
  validateBalancerState,
} from '@qlip/losses';
import { QLIPModel } from '@qlip/model';
import type * as tf from '@tensorflow/tfjs-core';
import {
  loadCheckpointState,
  readOptimizerState,
  readTrainerStateFile,
  resolveCheckpoint,
  STATE_FILE,
} from './checkpoint.js';
import type { TrainConfig } from './config.js';
import type { InitReport } from './init.js';
import type { AdamWState } from './optim.js';
import type { LrTail } from './schedule.js';

/** File names inside a checkpoint besides the model, optimizer.safetensors and trainer_state.json. */
export const DISCRIMINATOR_FILE = 'discriminator.safetensors';
export const DISCRIMINATOR_OPTIMIZER_FILE = 'discriminator_optimizer.safetensors';
/** EMA weights as a complete model directory (official layout), ready for eval/export. */
export const EMA_DIR = 'ema';

/** trainer_state.json: everything besides tensors that an exact resume needs. */
export interface TrainerState {
  version: 1;
  stage: 1 | 2;
  /** Optimizer steps completed. */
  step: number;
  /** The resolved config of the run (its `model` is the model actually trained). */
  config: TrainConfig;
  /** Data stream position right after the last batch consumed. */
  data: DataPosition;
  rng: { s: number; spare: number | null };
  /** Stage 1 dynamic balancing state (null in fixed mode and stage 2). */
  balancer: BalancerState | null;
  /** Where the weights came from at step 0. */
  init: Pick<InitReport, 'kind' | 'dir'> | null;
  /** Where the cosine tail of an extended run (`--extend`) starts. */
  lrTail?: LrTail | null;
}

/**
 * Balancer that records a non-finite step instead of throwing inside the gradient function; the trainer
 * checks the terms itself right after and stops with a message naming the step and the term.
 */
export class GuardedBalancer extends LossBalancer {
  override update(values: Record<string, number>): Record<string, number> {
    if (Object.values(values).some((v) => !Number.isFinite(v))) return this.weights;
    return super.update(values);
  }
}

export function balancerConfig(cfg: TrainConfig): BalancerConfig | null {
  const s = cfg.loss.stage1;
  if (s.balancing !== 'dynamic') return null;
  return {
    mode: 'dynamic',
    balanced: ['reconstruction', 'contrastive'],
    fixed: { bsq: s.weights.bsq },
    total: s.balancerTotal,
    decay: s.balancerDecay,
  };
}

/** What a resumed run continues from. The caller owns (and disposes) every tensor in it. */
export interface Resumed {
  dir: string;
  state: TrainerState;
  model: QLIPModel;
  optimizer: AdamWState;
  discriminator?: { net: PatchGanDiscriminator; optimizer: AdamWState };
  emaShadow?: Map<string, tf.Variable>;
}

/** Load a checkpoint for `--resume` (a step directory or a run root); checks it fits `cfg`. */
export async function loadResume(
  path: string,
  cfg: TrainConfig,
  onNote?: (message: string) => void,
): Promise<Resumed> {
  const dir = await resolveCheckpoint(path, onNote);
  const { state: raw, optimizer } = await loadCheckpointState(dir);
  const state = raw as unknown as TrainerState;
  const where = join(dir, 'trainer_state.json');
  const fail = (msg: string): never => {
    for (const t of [...optimizer.m.values(), ...optimizer.v.values()]) t.dispose();
    throw new Error(`${where}: ${msg}`);
  };
  if (state.version !== 1) fail(`unsupported trainer state version ${String(state.version)} (expected 1)`);
  if (state.stage !== cfg.stage) {
    fail(
      `checkpoint is a stage-${state.stage} run but the config asks for stage ${cfg.stage}; to start stage 2 from a stage-1 checkpoint use --init, not --resume`,
    );
  }
  if (!Number.isInteger(state.step) || state.step < 0) fail(`bad step ${String(state.step)}`);
  const data = state.data as Partial<DataPosition> | undefined;
  if (!Number.isInteger(data?.epoch) || !Number.isInteger(data?.index)) {
    fail(`bad data position ${JSON.stringify(state.data)} (expected {"epoch": n, "index": n})`);
  }
  try {
    if (state.balancer) validateBalancerState(state.balancer);
  } catch (err) {
    fail((err as Error).message);
  }
  const model = await QLIPModel.load(dir);
  const out: Resumed = { dir, state, model, optimizer };
  if (cfg.stage === 2 && cfg.loss.stage2.ganWeight > 0) {
    const net = await PatchGanDiscriminator.load(join(dir, DISCRIMINATOR_FILE), discriminatorConfig(cfg));
    out.discriminator = { net, optimizer: await readOptimizerState(join(dir, DISCRIMINATOR_OPTIMIZER_FILE)) };
  }
  if (cfg.ema.decay > 0) {
    const ema = await QLIPModel.load(join(dir, EMA_DIR));
    out.emaShadow = ema.params;
  }
  return out;
}

export function discriminatorConfig(cfg: TrainConfig) {
  const d = cfg.loss.stage2.discriminator;
  return { baseChannels: d.baseChannels, downsamples: d.downsamples };
}

export function restoreRng(state: TrainerState | undefined, seed: number): Rng {
  return state ? Rng.fromState(state.rng) : new Rng(seed + 1);
}

/**
 * The resolved config saved in a checkpoint, as the base layer of a resumed run's config (a `--config`
 * file and flags still override it, e.g. a longer `steps`).
 */
export async function checkpointConfigLayer(path: string): Promise<ConfigLayer> {
  const dir = await resolveCheckpoint(path);
  const file = join(dir, STATE_FILE);
  const { config } = (await readTrainerStateFile(dir)) as { config?: Record<string, unknown> };
  if (!config || typeof config !== 'object') throw new Error(`${file}: has no "config" object`);
  return { source: file, values: config };
}
