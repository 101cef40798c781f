import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, selectBackend } from '@qlip/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTokenCorpus } from '../src/data.js';
import { UnifiedModel } from '../src/model.js';
import { applyAliases, trainUnified } from '../src/train.js';
import { resolveUnifiedConfig, unifiedPresetLayer } from '../src/train-config.js';

beforeAll(async () => {
  await selectBackend('wasm');
});

/** um-tiny-mnist's data and sequences, shrunk: 24 digits, a 1-layer width-32 model, 4 steps. */
const config = () =>
  resolveUnifiedConfig([
    unifiedPresetLayer('um-tiny-mnist'),
    {
      source: 'test',
      values: {
        model: { hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64 },
        data: { source: { kind: 'builtin', name: 'mnist', split: 'train', limit: 24 } },
        batchSize: 4,
        steps: 4,
        selfCorrection: 0.1,
        schedule: { warmupSteps: 1 },
        checkpoint: { every: 2, keep: 5 },
      },
    },
  ]);

describe('trainUnified', () => {
  it('caches captioned tokens once and resumes bit-exactly (2 + 2 steps == 4 steps)', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'um-cache-'));
    const straight = mkdtempSync(join(tmpdir(), 'um-a-'));
    const a = await trainUnified(config(), { out: straight, cache });
    expect(a).toMatchObject({ step: 4, stopped: 'completed', images: 24 });
    const corpus = await loadTokenCorpus(cache);
    expect(corpus.captions[0]).toMatch(/^a photo of the number \w+\.$/);
    expect(corpus.codes.length).toBe(24 * 16);

    const split = mkdtempSync(join(tmpdir(), 'um-b-'));
    const ac = new AbortController();
    const first = await trainUnified(config(), {
      out: split,
      cache,
      signal: ac.signal,
      onProgress: (e) => {
        if (e.task === 'train' && e.done === 2 && e.unit === 'steps') ac.abort();
      },
    });
    expect(first).toMatchObject({ step: 2, stopped: 'aborted' });
    await expect(trainUnified(config(), { out: split, cache })).rejects.toThrow(/already holds checkpoints/);
    const second = await trainUnified(config(), { out: split, cache, resume: split });
    expect(second).toMatchObject({ startStep: 2, step: 4, stopped: 'completed' });
    const weights = (dir: string) => readFileSync(join(dir, 'step-000004', 'model.safetensors'));
    expect(weights(split).equals(weights(straight))).toBe(true);
    expect(
      readFileSync(join(split, 'step-000004', 'optimizer.safetensors')).equals(
        readFileSync(join(straight, 'step-000004', 'optimizer.safetensors')),
      ),
    ).toBe(true);
    const cfg = JSON.parse(readFileSync(join(straight, 'step-000004', 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({
      model_type: 'qlip-unified',
      image_bits: 16,
      image_grid: [4, 4],
      image_head: { kind: 'groups', group_size: 8 },
    });
    expect(cfg.tokenizer.path).toBe('pretrained:qlip-tiny-mnist');
    expect(readdirSync(straight)).toContain('metrics.jsonl');
  });

  it('lossWeights scale the terms: a text weight of 0 leaves the text head bias untrained', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'um-cache-'));
    const textBias = async (text: number) => {
      const out = mkdtempSync(join(tmpdir(), 'um-w-'));
      const cfg = { ...config(), steps: 1, lossWeights: { text, image: 1 } };
      await trainUnified(cfg, { out, cache });
      const m = await UnifiedModel.load(join(out, 'step-000001'));
      const b = Array.from(await m.params.get('text_head.bias')!.data());
      m.dispose();
      return b;
    };
    const frozen = await textBias(0);
    expect(frozen.every((x) => x === 0)).toBe(true); // initialised at 0, no decay on biases, no gradient
    expect((await textBias(4)).some((x) => x !== 0)).toBe(true);
  });

  it('aliases rewrite whole words only, with the given probability', () => {
    const al = { seven: ['7'] };
    expect(applyAliases('a photo of the number seven.', al, 1, new Rng(0))).toBe('a photo of the number 7.');
    expect(applyAliases('sevens seven', al, 1, new Rng(0))).toBe('sevens 7');
    expect(applyAliases('seven', al, 0, new Rng(0))).toBe('seven');
    expect(applyAliases('a photo of the number seven.', al, 0, new Rng(0), 1)).toBe(
      'a photo of the number seven',
    );
  });
});
