/**
 * Zero-shot classification in the page, as `qlip eval zero-shot` does it: every label filled into every
 * template, CLIP-BPE tokenized, embedded by the text graph, averaged per label (prompt ensembling), then
 * cosine similarity with the image embedding; probabilities are softmax(exp(logit_scale) * cosine).
 */
import { cosineScores, ensemblePrompts, fillTemplates } from '@qlip/eval/browser';
import { ClipBpeCore } from '@qlip/text-encoder/browser';
import type { WebQlip } from './model.js';

let bpe: Promise<ClipBpeCore> | null = null;

/** The CLIP BPE merges, fetched once (written next to the page by its build). */
export function clipBpe(): Promise<ClipBpeCore> {
  bpe ??= (async () => {
    const url = new URL('clip-merges.txt', document.baseURI).href;
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}: the page's CLIP vocabulary is missing`);
    return ClipBpeCore.fromMergesText(await res.text(), url);
  })();
  bpe.catch(() => {
    bpe = null;
  });
  return bpe;
}

export interface ZeroShotScore {
  label: string;
  probability: number;
  cosine: number;
}

/** Label x template text embeddings, ensembled per label: `[labels, P]` unit rows (cached per model). */
const classifiers = new WeakMap<WebQlip, Map<string, Float32Array>>();

async function classifier(model: WebQlip, labels: string[], templates: string[]): Promise<Float32Array> {
  const key = JSON.stringify([labels, templates]);
  const cache = classifiers.get(model) ?? new Map<string, Float32Array>();
  classifiers.set(model, cache);
  const hit = cache.get(key);
  if (hit) return hit;
  const bpe = await clipBpe();
  const prompts = labels.flatMap((l) => fillTemplates(l, templates)); // class-major [labels * templates]
  const ids = bpe.tokenize(prompts, model.manifest.contextLength); // [prompts, context]
  const text = await model.textEmbeddings(ids); // [prompts, P]
  const p = model.manifest.projectionDim;
  const classes = ensemblePrompts({ data: text, rows: prompts.length, cols: p }, labels.length).data;
  cache.set(key, classes);
  return classes;
}

/** Scores of one image embedding `[P]` against the labels, highest first. */
export async function zeroShot(
  model: WebQlip,
  imageEmbedding: Float32Array,
  labels: string[],
  templates: string[],
): Promise<ZeroShotScore[]> {
  if (labels.length === 0) throw new Error('zero-shot: give at least one label (one per line)');
  const bad = templates.find((t) => !t.includes('{}'));
  if (templates.length === 0 || bad !== undefined)
    throw new Error(
      `zero-shot: every template needs a {} where the label goes${bad ? ` (got "${bad}")` : ''}`,
    );
  const p = model.manifest.projectionDim;
  const classes = await classifier(model, labels, templates);
  const cos = cosineScores(
    { data: imageEmbedding, rows: 1, cols: p },
    { data: classes, rows: labels.length, cols: p },
  ).data;
  const scale = model.manifest.logitScale ?? 100;
  const max = Math.max(...cos);
  const exps = Array.from(cos, (c) => Math.exp(scale * (c - max)));
  const sum = exps.reduce((a, b) => a + b, 0);
  return labels
    .map((label, i) => ({ label, cosine: cos[i]!, probability: exps[i]! / sum }))
    .sort((a, b) => b.cosine - a.cosine);
}
