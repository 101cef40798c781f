import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '@oclif/test';
import { readNpy, selectBackend } from '@qlip/core';
import { UnifiedModel } from '@qlip/unified';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
let model: string;

/** A tiny random unified model over the shipped tokenizer, with the MNIST caption vocabulary. */
beforeAll(async () => {
  await selectBackend('wasm');
  const { UnifiedVocab } = await import('@qlip/unified');
  const vocab = UnifiedVocab.fromTexts(['a photo of the number seven.', 'a photo of the number one.']);
  const m = UnifiedModel.create({
    hidden_size: 32,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    intermediate_size: 64,
    max_position_embeddings: 40,
    image_bits: 16,
    image_grid: [4, 4],
    image_head: { kind: 'groups', group_size: 8 },
    clip_ids: [...vocab.clipIds],
    tokenizer: { path: 'pretrained:qlip-tiny-mnist' },
  });
  model = mkdtempSync(join(tmpdir(), 'um-cli-'));
  await m.save(model);
  m.dispose();
});

const run = async (args: string[]) => {
  const r = await runCommand([...args, '--json', '--backend', 'wasm'], { root });
  if (r.error) throw r.error;
  return JSON.parse(r.stdout);
};

describe('qlip generate / caption / complete', () => {
  it('generate writes PNGs, a grid and uint32 token grids; the same seed repeats', async () => {
    const out = mkdtempSync(join(tmpdir(), 'um-gen-'));
    const r = await run([
      'generate',
      '"a photo of the number 7"',
      '--model',
      model,
      '--n',
      '3',
      '--seed',
      '4',
      '--out',
      out,
    ]);
    // The test vocabulary has the word seven but not the digit: one token reads as <unk> (and a warning is printed).
    expect(r).toMatchObject({ prompt: 'a photo of the number 7', n: 3, unknownTokens: 1 });
    expect(readdirSync(out).sort()).toEqual([
      'sample-000.png',
      'sample-001.png',
      'sample-002.png',
      'sample-grid.png',
      'sample-prompt.txt',
      'sample-tokens.npy',
    ]);
    const a = await readNpy(join(out, 'sample-tokens.npy'));
    expect([a.dtype, a.shape]).toEqual(['uint32', [3, 4, 4]]);
    const again = mkdtempSync(join(tmpdir(), 'um-gen-'));
    await run([
      'generate',
      '"a photo of the number 7"',
      '--model',
      model,
      '--n',
      '3',
      '--seed',
      '4',
      '--out',
      again,
    ]);
    expect(Array.from((await readNpy(join(again, 'sample-tokens.npy'))).data)).toEqual(Array.from(a.data));
    const bad = await runCommand(['generate', 'x', '--model', model, '--out', out, '--guidance', 'lots'], {
      root,
    });
    expect(bad.error?.message).toMatch(/--guidance: expected a number/);
  });

  it('caption returns {captions: [{path, caption}]} and complete continues text', async () => {
    const out = mkdtempSync(join(tmpdir(), 'um-gen-'));
    await run(['generate', '"a photo of the number 1"', '--model', model, '--n', '2', '--out', out]);
    const files = [join(out, 'sample-000.png'), join(out, 'sample-001.png')];
    const r = await run(['caption', ...files, '--model', model]);
    expect(r.captions.map((c: { path: string }) => c.path)).toEqual(files);
    for (const c of r.captions) expect(typeof c.caption).toBe('string');
    const t = await run(['complete', '"a photo of"', '--model', model, '--max-tokens', '3']);
    expect(t.prompt).toBe('a photo of');
    expect(t.text.startsWith('a photo of')).toBe(true);
    const missing = await runCommand(['caption', join(out, 'nope.png'), '--model', model], { root });
    expect(missing.error?.message).toMatch(/nope\.png/);
    expect(existsSync(join(model, 'config.json'))).toBe(true);
  });
});
