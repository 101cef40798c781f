import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * What a training checkpoint says about how its weights were made, for the exported model card: read from
 * `trainer_state.json` (written by `qlip train` into every step checkpoint) and, when the checkpoint sits in
 * its run folder, the matching line of `../metrics.jsonl`. Only names are kept from local paths (a model
 * card is published; `/home/me/...` is not the reader's business).
 */
export interface TrainingSummary {
  stage: number;
  /** Optimizer steps completed, of `steps` planned. */
  step: number;
  steps: number;
  data: string;
  imageSize: number;
  /** Images per optimizer step (batch x accumulation). */
  imagesPerStep: number;
  optimizer: string;
  init: string;
  /** Smoothed losses of the stage-1 balancer at the checkpoint (its EMA of each term). */
  smoothed: Record<string, number>;
  /** The checkpoint step's own line of metrics.jsonl, when found. */
  last?: { loss: Record<string, number>; lr?: number };
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const name = (p: unknown): string =>
  typeof p === 'string' && p !== '' ? basename(p.replace(/[/\\]+$/, '')) : '?';

/** `data.source` in words, with file names but no local directories. */
export function describeSource(source: unknown): string {
  const s = obj(source);
  switch (s.kind) {
    case 'builtin':
      return `built-in \`${String(s.name)}\` (${String(s.split ?? 'train')} split${num(s.limit) ? `, first ${s.limit}` : ''})`;
    case 'folder':
      return `a folder of images with .txt captions (\`${name(s.path)}\`)`;
    case 'classFolder':
      return `class folders (\`${name(s.path)}\`)${Array.isArray(s.templates) ? `, captions from ${JSON.stringify(s.templates)}` : ''}`;
    case 'manifest':
      return `a manifest (\`${name(s.path)}\`)`;
    case 'webdataset': {
      const shards = Array.isArray(s.shards) ? s.shards : [s.shards];
      return `WebDataset shards (\`${name(shards[0])}\`${shards.length > 1 ? ` and ${shards.length - 1} more` : ''})`;
    }
    default:
      return 'unknown';
  }
}

/** The metrics.jsonl line of `step`, if the run folder around the checkpoint has it. */
async function metricsLine(checkpoint: string, step: number): Promise<TrainingSummary['last']> {
  const text = await readFile(join(dirname(checkpoint), 'metrics.jsonl'), 'utf8').catch(() => '');
  for (const line of text.split('\n').reverse()) {
    let m: Json;
    try {
      m = obj(JSON.parse(line));
    } catch {
      continue; // a torn last line
    }
    if (m.step !== step) continue;
    const loss: Record<string, number> = {};
    for (const [k, v] of Object.entries(obj(m.loss))) if (num(v) !== undefined) loss[k] = v as number;
    const lr = num(m.lr);
    return lr === undefined ? { loss } : { loss, lr };
  }
  return undefined;
}

/** The training summary of a checkpoint folder, or undefined when it has no (readable) trainer_state.json. */
export async function readTrainingSummary(dir: string): Promise<TrainingSummary | undefined> {
  let state: Json;
  try {
    state = obj(JSON.parse(await readFile(join(dir, 'trainer_state.json'), 'utf8')));
  } catch {
    return undefined;
  }
  const config = obj(state.config);
  const data = obj(config.data);
  const opt = obj(config.optimizer);
  const sched = obj(config.schedule);
  const step = num(state.step) ?? 0;
  const init = obj(state.init);
  const smoothed: Record<string, number> = {};
  for (const [k, v] of Object.entries(obj(obj(state.balancer).ema)))
    if (num(v) !== undefined) smoothed[k] = v as number;
  const summary: TrainingSummary = {
    stage: num(state.stage) ?? 1,
    step,
    steps: num(config.steps) ?? step,
    data: describeSource(data.source),
    imageSize: num(data.imageSize) ?? 0,
    imagesPerStep: (num(data.batchSize) ?? 0) * (num(opt.gradAccum) ?? 1),
    optimizer:
      `AdamW, peak lr ${num(opt.lr) ?? '?'}, ${String(sched.kind ?? 'cosine')} schedule, ` +
      `${num(sched.warmupSteps) ?? 0} warm-up steps, weight decay ${num(opt.weightDecay) ?? '?'}`,
    init: init.kind ? `${String(init.kind)} checkpoint \`${name(init.dir)}\`` : 'random initialisation',
    smoothed,
  };
  const last = await metricsLine(dir, step);
  if (last) summary.last = last;
  return summary;
}

const fmt = (v: number) => (Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(3));

/** The card's "Training" section. */
export function trainingSection(t: TrainingSummary): string {
  const rows: Array<[string, string]> = [
    ['stage', t.stage === 1 ? '1 (all towers: reconstruction + BSQ + contrastive)' : '2 (decoder fine-tune)'],
    ['steps', `${t.step.toLocaleString('en-US')} of ${t.steps.toLocaleString('en-US')}`],
    ['data', t.data],
    [
      'images seen',
      `${(t.step * t.imagesPerStep).toLocaleString('en-US')} (${t.imagesPerStep} per step, ${t.imageSize} px)`,
    ],
    ['optimiser', t.optimizer],
    ['initialised from', t.init],
  ];
  if (Object.keys(t.smoothed).length)
    rows.push([
      'smoothed losses at the end',
      Object.entries(t.smoothed)
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(', '),
    ]);
  if (t.last) {
    const keep = ['total', 'reconstruction', 'contrastive', 'bsq', 'perceptual', 'generator'];
    const parts = keep
      .filter((k) => t.last!.loss[k] !== undefined)
      .map((k) => `${k} ${fmt(t.last!.loss[k]!)}`);
    rows.push([`losses at step ${t.step}`, parts.join(', ')]);
  }
  return `## Training

Trained with \`qlip train\` (figures from the checkpoint's trainer_state.json and the run's metrics.jsonl;
losses are training losses, not an evaluation: run \`qlip eval zero-shot\` / \`qlip eval reconstruction\`).

| | |
|---|---|
${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}
`;
}
