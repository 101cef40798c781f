import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ProgressListener, Rng, silentProgress } from '@qlip/core';
import { QLIPModel } from '@qlip/model';
import { defaultModelDir } from '@qlip/pretrained';
import { modelFingerprint } from '@qlip/tokenize';
import {
  defaultNoDecay,
  learningRate,
  listCheckpoints,
  loadCheckpointState,
  resolveCheckpoint,
  runTrainingLoop,
  type TrainingLoopResult,
  type TrainingTask,
} from '@qlip/trainer';
import * as tf from '@tensorflow/tfjs-core';
import type { UnifiedConfigInput } from './config.js';
import { buildTokenCache, loadTokenCorpus, type TokenCorpus } from './data.js';
import { UnifiedModel } from './model.js';
import { buildSequence, drawTask, packSequences, type SequenceBatch } from './sequence.js';
import type { UnifiedTrainConfig } from './train-config.js';
import { UnifiedVocab } from './vocab.js';

/** `pretrained:<name>` -> the directory shipped in @qlip/pretrained; anything else is a path. */
export function resolveTokenizerDir(ref: string): string {
  if (!ref.startsWith('pretrained:')) return ref;
  const name = ref.slice('pretrained:'.length);
  const dir = defaultModelDir();
  if (!dir.endsWith(`/${name}`)) throw new Error(`tokenizer "${ref}": @qlip/pretrained ships only ${dir}`);
  return dir;
}

/**
 * Prompt-side text variation: each alias-able word is replaced by one of its aliases with probability `p`,
 * and, with probability `pPunct`, the final punctuation is dropped (users type "a photo of the number 7").
 */
export function applyAliases(
  text: string,
  aliases: Record<string, string[]>,
  p: number,
  rng: Rng,
  pPunct = 0,
): string {
  const t = pPunct > 0 && rng.next() < pPunct ? text.replace(/\s*[.!?]+\s*$/, '') : text;
  const keys = Object.keys(aliases);
  if (keys.length === 0 || p === 0) return t;
  return t.replace(/[A-Za-z]+/g, (w) => {
    const alts = aliases[w.toLowerCase()];
    if (!alts || rng.next() >= p) return w;
    return alts[rng.int(alts.length)]!;
  });
}

/** Every text the model may meet: captions and their alias forms (the vocabulary is built from these). */
function corpusTexts(corpus: TokenCorpus, aliases: Record<string, string[]>): string[] {
  const texts = new Set(corpus.captions);
  for (const alts of Object.values(aliases)) for (const a of alts) texts.add(a);
  return [...texts];
}

/** Endless seeded batches of mixed sequences; the rng state is the whole data position. */
function* sequenceBatches(
  cfg: UnifiedTrainConfig,
  model: UnifiedModel,
  vocab: UnifiedVocab,
  corpus: TokenCorpus,
  rng: Rng,
): Generator<SequenceBatch> {
  const n = corpus.tokensPerImage;
  const mc = model.config;
  const encoded = new Map<string, number[]>();
  const enc = (t: string) => {
    let ids = encoded.get(t);
    if (!ids) {
      ids = vocab.encode(t);
      encoded.set(t, ids);
    }
    return ids;
  };
  for (;;) {
    const seqs = [];
    for (let i = 0; i < cfg.batchSize; i++) {
      const k = rng.int(corpus.count);
      const task = drawTask(cfg.tasks, rng);
      const caption = corpus.captions[k]!;
      // Aliases only where text is an input (prompts); captions are always written in the canonical form.
      const text =
        task === 'i2t'
          ? caption
          : applyAliases(caption, cfg.aliases, cfg.aliasProbability, rng, cfg.dropFinalPunctuation);
      const dropCondition = task === 't2i' && rng.next() < cfg.conditionDropout;
      seqs.push(
        buildSequence({
          task,
          text: enc(text),
          image: corpus.codes.subarray(k * n, (k + 1) * n),
          dropCondition,
        }),
      );
    }
    yield packSequences(seqs, {
      bits: mc.image_bits,
      gridCols: mc.image_grid[1],
      flip: cfg.selfCorrection,
      rng,
    });
  }
}

export interface UnifiedTrainOptions {
  out: string;
  resume?: string;
  /** Token cache directory (default OUT/tokens). */
  cache?: string;
  baseDir?: string;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface UnifiedTrainResult extends TrainingLoopResult {
  out: string;
  cache: string;
  images: number;
  vocabulary: number;
  parameters: number;
  seconds: number;
}

/** Token cache for the run (tokenizing the data once), then the corpus in memory. */
async function prepareCorpus(
  cfg: UnifiedTrainConfig,
  o: UnifiedTrainOptions,
): Promise<{
  corpus: TokenCorpus;
  cache: string;
  ref: { path: string; fingerprint: string };
  group: number;
}> {
  const dir = resolveTokenizerDir(cfg.tokenizer);
  const tokenizer = await QLIPModel.load(dir);
  const ref = {
    path: cfg.tokenizer.startsWith('pretrained:') ? cfg.tokenizer : dir,
    fingerprint: await modelFingerprint(dir),
  };
  const cache = o.cache ?? join(o.out, 'tokens');
  try {
    await buildTokenCache({
      source: cfg.data.source,
      out: cache,
      tokenizer,
      tokenizerRef: ref,
      seed: cfg.data.seed,
      baseDir: o.baseDir,
      onProgress: o.onProgress,
      signal: o.signal,
    });
    return { corpus: await loadTokenCorpus(cache), cache, ref, group: tokenizer.groupSize };
  } finally {
    tokenizer.dispose();
  }
}

type LoopResume = Parameters<typeof runTrainingLoop>[1]['resume'];

/** The model, its batch stream's rng and the loop's resume point, from a checkpoint directory. */
async function resumeModel(
  from: string,
  emit: ProgressListener,
): Promise<{ model: UnifiedModel; rng: Rng; resume: LoopResume }> {
  const dir = await resolveCheckpoint(from);
  const { state, optimizer } = await loadCheckpointState(dir);
  const model = await UnifiedModel.load(dir);
  const rng = Rng.fromState(state.rng as { s: number; spare: number | null });
  const resume = { dir, step: Number(state.step), optimizer };
  emit({ task: 'train', done: resume.step, message: `resuming from ${dir} (step ${resume.step})` });
  return { model, rng, resume };
}

/** A new model over the corpus's vocabulary and the token cache's geometry (bits, grid), seeded by `cfg`. */
async function createModel(
  cfg: UnifiedTrainConfig,
  corpus: TokenCorpus,
  cache: string,
  ref: UnifiedConfigInput['tokenizer'],
  group: number,
): Promise<{ model: UnifiedModel; rng: Rng; resume: LoopResume }> {
  const vocab = UnifiedVocab.fromTexts(corpusTexts(corpus, cfg.aliases));
  const init: UnifiedConfigInput = {
    ...cfg.model,
    image_head: cfg.model.image_head ?? { kind: 'groups', group_size: group },
    image_bits: 0,
    image_grid: [0, 0],
    clip_ids: [...vocab.clipIds],
    tokenizer: ref,
  };
  const meta = JSON.parse(await readFile(join(cache, 'meta.json'), 'utf8')) as {
    bits: number;
    grid: [number, number];
  };
  const model = UnifiedModel.create({ ...init, image_bits: meta.bits, image_grid: meta.grid }, cfg.seed);
  return { model, rng: new Rng(cfg.seed).fork(1), resume: undefined };
}

/** The loop's view of a unified model: its parameters, the weighted text + image loss, what a checkpoint saves. */
function unifiedTask(
  cfg: UnifiedTrainConfig,
  model: UnifiedModel,
  batches: Iterator<SequenceBatch>,
  rng: Rng,
  cache: string,
): TrainingTask<SequenceBatch> {
  return {
    parameters: model.params,
    batches: { next: async () => batches.next() },
    microBatch: (batch) => ({
      loss: () => {
        const l = model.losses(batch);
        const terms = { text: l.text.dataSync()[0]!, image: l.image.dataSync()[0]! };
        const w = cfg.lossWeights;
        if (w.text === 1 && w.image === 1) {
          tf.dispose([l.text, l.image]);
          return { total: l.total, terms };
        }
        const total = tf.add(tf.mul(l.text, w.text), tf.mul(l.image, w.image)) as tf.Scalar;
        tf.dispose([l.text, l.image, l.total]);
        return { total, terms };
      },
    }),
    checkpointState: () => ({ version: 1, kind: 'qlip-unified', config: cfg, rng: rng.state, cache }),
    save: (dir) => model.save(dir),
  };
}

/**
 * Train a unified model as `cfg` says on the generic training loop of @qlip/trainer: the data is tokenized
 * once into OUT/tokens, batches are drawn from one seeded stream (its state is saved in every checkpoint,
 * so a resumed run continues bit-exactly), checkpoints are HF-like directories (config.json + model.safetensors).
 */
export async function trainUnified(
  cfg: UnifiedTrainConfig,
  o: UnifiedTrainOptions,
): Promise<UnifiedTrainResult> {
  const t0 = performance.now();
  const emit = o.onProgress ?? silentProgress;
  await mkdir(o.out, { recursive: true });
  if (!o.resume && (await listCheckpoints(o.out)).length > 0)
    throw new Error(
      `${o.out}: already holds checkpoints; pass --resume ${o.out} to continue, or choose a new --out`,
    );
  const { corpus, cache, ref, group } = await prepareCorpus(cfg, o);
  if (o.signal?.aborted)
    throw new Error('interrupted while tokenizing; run the same command again to resume');
  const { model, rng, resume } = o.resume
    ? await resumeModel(o.resume, emit)
    : await createModel(cfg, corpus, cache, ref, group);
  const vocab = new UnifiedVocab(model.config.clip_ids);
  const batches = sequenceBatches(cfg, model, vocab, corpus, rng);
  const task = unifiedTask(cfg, model, batches, rng, cache);
  const o2 = cfg.optimizer;
  try {
    const r = await runTrainingLoop(task, {
      out: o.out,
      steps: cfg.steps,
      microBatches: 1,
      learningRate: (step) => learningRate({ lr: o2.lr, totalSteps: cfg.steps, ...cfg.schedule }, step),
      optimizer: {
        beta1: o2.betas[0],
        beta2: o2.betas[1],
        eps: o2.eps,
        weightDecay: o2.weightDecay,
        noDecay: defaultNoDecay,
      },
      clipNorm: o2.clipNorm,
      emaDecay: 0,
      checkpoint: cfg.checkpoint,
      examplesPerStep: cfg.batchSize,
      rateLabel: 'seq/s',
      ...(resume ? { resume } : {}),
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    return {
      ...r,
      out: o.out,
      cache,
      images: corpus.count,
      vocabulary: vocab.size,
      parameters: model.parameterCount(),
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    model.dispose();
  }
}
