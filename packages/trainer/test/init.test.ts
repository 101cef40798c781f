import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type HostTensor, SafetensorsReader, selectBackend, writeSafetensors } from '@qlip/core';
import { QLIPModel } from '@qlip/model';
import { beforeAll, describe, expect, it } from 'vitest';
import { initModel, train } from '../src/index.js';
import { MICRO_MODEL, microConfig, tempDir } from './helpers.js';

beforeAll(async () => {
  await selectBackend('wasm');
});

const isTower = (n: string) =>
  n.startsWith('text_model.') ||
  n.startsWith('vision_model.embeddings.') ||
  n.startsWith('vision_model.encoder.') ||
  n.startsWith('vision_model.post_layernorm.') ||
  n === 'visual_projection.weight' ||
  n === 'text_projection.weight' ||
  n === 'logit_scale';

/**
 * A CLIP-style HF checkpoint (CLIPModel names, no decoder_config): the towers of a seeded micro QLIP,
 * plus what a real CLIP has and QLIP lacks (pre_layrnorm, position_ids), with a vision position table
 * of another length (a different image size), which must be left at its fresh init.
 */
async function fakeClip(): Promise<{ dir: string; source: Map<string, Float32Array> }> {
  const src = await tempDir('qlip-clip-src-');
  const model = QLIPModel.create(MICRO_MODEL, 7);
  await model.save(src);
  model.dispose();
  const reader = await SafetensorsReader.open(join(src, 'model.safetensors'));
  const tensors = new Map<string, HostTensor>();
  const source = new Map<string, Float32Array>();
  for (const name of reader.names()) {
    if (!isTower(name)) continue;
    const t = await reader.read(name);
    tensors.set(name, t);
    source.set(name, t.data as Float32Array);
  }
  await reader.close();
  tensors.set('vision_model.embeddings.position_embedding.weight', {
    dtype: 'F32',
    shape: [10, 32],
    data: new Float32Array(320).fill(0.5),
  });
  tensors.set('vision_model.pre_layrnorm.weight', {
    dtype: 'F32',
    shape: [32],
    data: new Float32Array(32).fill(1),
  });
  tensors.set('text_model.embeddings.position_ids', {
    dtype: 'I64',
    shape: [1, 12],
    data: new BigInt64Array(12),
  });
  const dir = await tempDir('qlip-clip-');
  await mkdir(dir, { recursive: true });
  await writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  const cfg = { model_type: 'clip', architectures: ['CLIPModel'], text_config: {}, vision_config: {} };
  await writeFile(join(dir, 'config.json'), JSON.stringify(cfg));
  return { dir, source };
}

describe('--init', () => {
  it('loads the towers of a CLIP-style checkpoint by name and freshly initialises the rest', async () => {
    const { dir, source } = await fakeClip();
    const { model, report } = await initModel(MICRO_MODEL, 0, dir);
    expect(report!.kind).toBe('clip');
    const pos = 'vision_model.embeddings.position_embedding.weight';
    expect(report!.initialised).toContain(pos);
    expect(report!.ignored.sort()).toEqual([pos, 'vision_model.pre_layrnorm.weight']);
    expect(report!.loaded).toContain('text_model.embeddings.token_embedding.weight');
    expect(report!.loaded).toContain('vision_model.encoder.layers.0.self_attn.q_proj.weight');
    expect(report!.loaded.length + report!.initialised.length).toBe(model.params.size);
    for (const n of report!.initialised) {
      expect(
        n.startsWith('vision_decoder.') || n.startsWith('vision_model.quant_embed') || n === pos,
        n,
      ).toBe(true);
    }
    // Loaded values are the checkpoint's (saved in official layout, stored back in ours): compare via save.
    const out = await tempDir();
    await model.save(out);
    model.dispose();
    const reader = await SafetensorsReader.open(join(out, 'model.safetensors'));
    for (const n of report!.loaded) {
      expect(
        Buffer.from(((await reader.read(n)).data as Float32Array).buffer).equals(
          Buffer.from(source.get(n)!.buffer),
        ),
        n,
      ).toBe(true);
    }
    const fresh = (await reader.read(pos)).data as Float32Array;
    expect(fresh.some((v) => v !== 0.5)).toBe(true);
    await reader.close();
  });

  it('reports the init in a training run and in the checkpoint', async () => {
    const { dir } = await fakeClip();
    const out = await tempDir();
    const messages: string[] = [];
    const r = await train(microConfig({ steps: 1 }), {
      out,
      init: dir,
      onProgress: (e) => e.message && messages.push(e.message),
    });
    expect(r.init!.kind).toBe('clip');
    expect(messages[0]).toMatch(
      /init from .* \(clip\): \d+ tensors loaded, \d+ freshly initialised, 2 ignored/,
    );
    const state = JSON.parse(await readFile(join(r.checkpoint!, 'trainer_state.json'), 'utf8'));
    expect(state.init).toEqual({ kind: 'clip', dir });
  });

  it('loads a QLIP checkpoint whole, with its own config', async () => {
    const src = await tempDir();
    const m = QLIPModel.create(MICRO_MODEL, 3);
    await m.save(src);
    m.dispose();
    const other = { ...MICRO_MODEL, projection_dim: 8 };
    const { model, report } = await initModel(other, 0, src);
    expect(report).toMatchObject({ kind: 'qlip', initialised: [], ignored: [] });
    expect(model.config.projection_dim).toBe(16);
    model.dispose();
  });

  it('fails clearly when nothing matches or the directory is not a checkpoint', async () => {
    const empty = await tempDir();
    await expect(initModel(MICRO_MODEL, 0, empty)).rejects.toThrow(/--init .*: cannot read .*config\.json/);
    await writeFile(join(empty, 'config.json'), '{}');
    await writeSafetensors(
      join(empty, 'model.safetensors'),
      new Map([['foo', { dtype: 'F32', shape: [1], data: new Float32Array(1) } as HostTensor]]),
    );
    await expect(initModel(MICRO_MODEL, 0, empty)).rejects.toThrow(
      /no tensor matches the model by name and shape/,
    );
  });
});
