#!/usr/bin/env node
// The um-tiny-mnist bar, measured end to end on a unified model (default: the shipped one):
//   text-to-image prompt accuracy (10 prompts x N samples, the tokenizer's zero-shot classifier) and diversity,
//   captioning exact match on the 10,000 MNIST test digits (+ BLEU-4 / CIDEr-D),
//   token sampling speed at batch 32 with the KV cache, beside the same sampling without a cache (the peer,
//   measured in the same run: every step re-runs the whole prefix).
// Usage: node packages/unified/bench/bar.mjs [--model DIR] [--n 50] [--out DIR] [--fd mobilenet_v2|none]
//          [--sampling-only]
// The backend is the one `qlip generate` runs on: wasm with the native SGEMM kernels when they load.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Rng, registerBackendAccelerator, selectBackend } from '@qlip/core';
import { nativeKernelsAccelerator } from '@qlip/native-kernels';
import { evaluateCaptioning, evaluateGeneration, loadUnified, sampleImages, stepInputs } from '@qlip/unified';
import * as tf from '@tensorflow/tfjs-core';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' },
    n: { type: 'string', default: '50' },
    out: { type: 'string', default: 'bench-out/unified' },
    fd: { type: 'string', default: 'mobilenet_v2' },
    'caption-limit': { type: 'string' },
    guidance: { type: 'string', default: '3' },
    'sampling-only': { type: 'boolean', default: false },
  },
});
registerBackendAccelerator(nativeKernelsAccelerator);
const backend = await selectBackend('auto');
const p = await loadUnified(a.model);
const t0 = performance.now();
const log = (m) => process.stderr.write(`${m}\n`);

/** Sampling without a KV cache: every step runs the whole sequence so far (the reference). */
async function sampleNoCache(model, text, b) {
  const c = model.config;
  const n = c.image_grid[0] * c.image_grid[1];
  const rows = [...Array(b).fill([1, ...text, 3]), ...Array(b).fill([1, ...text.map(() => 0), 3])].map((r) =>
    r.map((id) => ({ id })),
  );
  for (let i = 0; i < n; i++) {
    const x = model.embed(stepInputs(rows, c.image_bits, c.image_grid[1]), 0);
    const { hidden, cache } = model.forward(x, undefined, false);
    const t = rows[0].length;
    const logits = tf.tidy(() =>
      tf.reshape(model.imageLogits(tf.slice(hidden, [0, t - 1, 0], [2 * b, 1, -1])), [2 * b, -1]).dataSync(),
    );
    tf.dispose([x, hidden, ...cache.flatMap((l) => [l.k, l.v])]);
    const w = logits.length / (2 * b);
    for (let r = 0; r < b; r++) {
      // Same draw shape as the cached sampler (greedy here: the cost, not the tokens, is measured).
      let best = 0;
      for (let k = 1; k < 256; k++) if (logits[r * w + k] > logits[r * w + best]) best = k;
      const code = best * 256 + best;
      rows[r].push({ code, n: i });
      rows[b + r].push({ code, n: i });
    }
  }
}

async function timeIt(f, reps) {
  await f(); // warm-up
  const times = [];
  for (let i = 0; i < reps; i++) {
    const s = performance.now();
    await f();
    times.push((performance.now() - s) / 1000);
  }
  times.sort((x, y) => x - y);
  return times[Math.floor(times.length / 2)];
}

const text = p.vocab.encode('a photo of the number seven.');
const g = Number(a.guidance);
const o = { guidance: g, temperature: 1, topK: 0 };
log('timing sampling (batch 32)...');
const cached = await timeIt(async () => {
  const d = p.decoder();
  try {
    await sampleImages(d, text, 32, o, new Rng(0));
  } finally {
    d.dispose();
  }
}, 5);
const unguided = await timeIt(async () => {
  const d = p.decoder();
  try {
    await sampleImages(d, text, 32, { ...o, guidance: 1 }, new Rng(0));
  } finally {
    d.dispose();
  }
}, 5);
const nocache = await timeIt(() => sampleNoCache(p.model, text, 32), 3);
log(
  `KV cache ${(32 / cached).toFixed(1)} images/s (guidance ${g}), unguided ${(32 / unguided).toFixed(1)}, no cache ${(32 / nocache).toFixed(1)}`,
);

const sampling = {
  batch: 32,
  guidance: g,
  kvCacheImagesPerSecond: 32 / cached,
  unguidedImagesPerSecond: 32 / unguided,
  noCacheImagesPerSecond: 32 / nocache,
  speedupOverNoCache: nocache / cached,
};
if (a['sampling-only']) {
  console.log(
    JSON.stringify({ model: p.dir, backend: `${backend.name} (${backend.detail})`, sampling }, null, 2),
  );
  p.dispose();
  process.exit(0);
}

log('eval generation...');
const gen = await evaluateGeneration(p, {
  data: 'mnist',
  n: Number(a.n),
  guidance: g,
  temperature: 1,
  topK: 0,
  seed: 0,
  fd: a.fd,
  fdImages: 500,
  out: join(a.out, 'generation'),
  onProgress: (e) => e.metrics && log(`  ${e.done}/${e.total} ${JSON.stringify(e.metrics)}`),
});
log('eval captioning...');
const cap = await evaluateCaptioning(p, {
  data: 'mnist',
  ...(a['caption-limit'] ? { limit: Number(a['caption-limit']) } : {}),
  out: join(a.out, 'captioning'),
});
const result = {
  model: p.dir,
  backend: `${backend.name} (${backend.detail})`,
  generation: {
    promptAccuracy: gen.promptAccuracy,
    diversity: gen.diversity,
    perPrompt: gen.prompts.map((r) => ({ prompt: r.prompt, accuracy: r.accuracy, diversity: r.diversity })),
    frechetDistance: gen.frechetDistance,
    samplesPerPrompt: Number(a.n),
    guidance: g,
  },
  captioning: { images: cap.images, exactMatch: cap.exactMatch, bleu4: cap.bleu4, ciderD: cap.ciderD },
  sampling,
  seconds: (performance.now() - t0) / 1000,
};
await mkdir(a.out, { recursive: true });
await writeFile(join(a.out, 'bar.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
p.dispose();
