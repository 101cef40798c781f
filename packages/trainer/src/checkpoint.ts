import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type HostTensor, SafetensorsReader, toFloat32, writeSafetensors } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import type { AdamWState } from './optim.js';

/**
 * Training checkpoints: `ROOT/step-000100/` holds a model directory in the official layout (written by
 * the caller's `saveModel`), `optimizer.safetensors` (AdamW moments as `m/<name>`, `v/<name>`) and
 * `trainer_state.json`. A checkpoint is assembled in a hidden temp directory and renamed into place,
 * so a crash never leaves a half-written checkpoint; `ROOT/latest` names the newest complete one.
 */
export const STATE_FILE = 'trainer_state.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';

export const stepDirName = (step: number) => `step-${String(step).padStart(6, '0')}`;

export interface SaveCheckpointOptions {
  step: number;
  /** Writes config.json + model.safetensors into the given directory. */
  saveModel: (dir: string) => Promise<void>;
  optimizer: AdamWState;
  /** JSON-serialisable trainer state (schedule, rng, data position, balancer, resolved config). */
  state: Record<string, unknown>;
  /** Keep this many newest checkpoints; older ones are deleted after the new one is in place. */
  keep: number;
  /** Writes any further files (discriminator, EMA weights) into the temp directory before the rename. */
  extraFiles?: (dir: string) => Promise<void>;
}

/** Write one checkpoint atomically; returns its directory. */
export async function saveCheckpoint(root: string, o: SaveCheckpointOptions): Promise<string> {
  await mkdir(root, { recursive: true });
  const name = stepDirName(o.step);
  const final = join(root, name);
  const tmp = join(root, `.${name}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  try {
    await o.saveModel(tmp);
    await writeOptimizerState(join(tmp, OPTIMIZER_FILE), o.optimizer);
    await o.extraFiles?.(tmp);
    await writeFile(join(tmp, STATE_FILE), `${JSON.stringify({ ...o.state, step: o.step }, null, 2)}\n`);
    await rm(final, { recursive: true, force: true });
    await rename(tmp, final);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  await writeFile(join(root, 'latest.tmp'), `${name}\n`);
  await rename(join(root, 'latest.tmp'), join(root, 'latest'));
  await pruneCheckpoints(root, o.keep);
  return final;
}

/** AdamW moments as `m/<name>`, `v/<name>` float32 tensors, the step count in the metadata. */
export async function writeOptimizerState(path: string, s: AdamWState): Promise<void> {
  await writeSafetensors(path, await optimizerTensors(s), { step: String(s.step) });
}

async function optimizerTensors(s: AdamWState): Promise<Record<string, HostTensor>> {
  const out: Record<string, HostTensor> = {};
  for (const [kind, map] of [
    ['m', s.m],
    ['v', s.v],
  ] as const) {
    for (const [k, t] of map)
      out[`${kind}/${k}`] = { dtype: 'F32', shape: t.shape, data: (await t.data()) as Float32Array };
  }
  return out;
}

/** A checkpoint folder's name (`step-NNNNNN`). */
export const isStepDirName = (name: string) => /^step-\d{6,}$/.test(name);

/** Step directories under `root`, oldest first. */
export async function listCheckpoints(root: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  return names.filter(isStepDirName).sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
}

async function pruneCheckpoints(root: string, keep: number): Promise<void> {
  const all = await listCheckpoints(root);
  for (const old of all.slice(0, Math.max(0, all.length - Math.max(1, keep)))) {
    await rm(join(root, old), { recursive: true, force: true });
  }
}

/**
 * Resolve what `--resume` points at: a checkpoint directory itself, or a run root (its `latest`, else
 * its newest complete step directory). When `latest` names a folder that is gone (deleted, or a crash
 * between the rename and the pruning), the newest complete checkpoint is used and `onNote` says so.
 * Errors name the path.
 */
export async function resolveCheckpoint(path: string, onNote?: (message: string) => void): Promise<string> {
  if (await exists(join(path, STATE_FILE))) return path;
  let latest: string | undefined;
  try {
    latest = (await readFile(join(path, 'latest'), 'utf8')).trim();
  } catch {
    // no `latest`: the newest step directory
  }
  if (latest && (await exists(join(path, latest, STATE_FILE)))) return join(path, latest);
  const complete: string[] = [];
  for (const name of await listCheckpoints(path))
    if (await exists(join(path, name, STATE_FILE))) complete.push(name);
  const newest = complete[complete.length - 1];
  if (!newest) {
    const why = latest ? ` (${join(path, 'latest')} names ${latest}, which has no ${STATE_FILE})` : '';
    throw new Error(`${path}: no checkpoint found${why} (expected ${STATE_FILE} or step-NNNNNN directories)`);
  }
  if (latest) {
    onNote?.(
      `${join(path, 'latest')} names ${latest}, which is missing or incomplete: resuming from the newest complete checkpoint, ${newest}`,
    );
  }
  return join(path, newest);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Read a checkpoint's trainer_state.json; every fault (missing, torn, not an object) names the file. */
export async function readTrainerStateFile(dir: string): Promise<Record<string, unknown>> {
  const statePath = join(dir, STATE_FILE);
  let state: unknown;
  try {
    state = JSON.parse(await readFile(statePath, 'utf8'));
  } catch (err) {
    throw new Error(`${statePath}: cannot read trainer state (${(err as Error).message})`);
  }
  if (typeof state !== 'object' || state === null || Array.isArray(state)) {
    throw new Error(`${statePath}: cannot read trainer state (not a JSON object)`);
  }
  return state as Record<string, unknown>;
}

/** Read the trainer state and optimizer moments of a checkpoint directory. */
export async function loadCheckpointState(
  dir: string,
): Promise<{ state: Record<string, unknown>; optimizer: AdamWState }> {
  const state = await readTrainerStateFile(dir);
  return { state, optimizer: await readOptimizerState(join(dir, OPTIMIZER_FILE)) };
}

/** Read what `writeOptimizerState` wrote; errors name the file. */
export async function readOptimizerState(path: string): Promise<AdamWState> {
  const reader = await SafetensorsReader.open(path);
  const optimizer: AdamWState = { step: Number(reader.metadata.step ?? 0), m: new Map(), v: new Map() };
  try {
    for (const name of reader.names()) {
      const slash = name.indexOf('/');
      const kind = name.slice(0, slash);
      const t = await reader.read(name);
      const tensor = tf.tensor(toFloat32(t), t.shape);
      if (kind === 'm') optimizer.m.set(name.slice(slash + 1), tensor);
      else if (kind === 'v') optimizer.v.set(name.slice(slash + 1), tensor);
      else {
        tensor.dispose();
        throw new Error(
          `${reader.path}: unexpected optimizer tensor "${name}" (expected m/<param> or v/<param>)`,
        );
      }
    }
    return optimizer;
  } catch (err) {
    for (const t of [...optimizer.m.values(), ...optimizer.v.values()]) t.dispose();
    throw err;
  } finally {
    await reader.close();
  }
}
