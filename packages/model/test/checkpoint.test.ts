import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type HostTensor,
  INDEX_FILE,
  openCheckpoint,
  SINGLE_FILE,
  selectBackend,
  toFloat32,
  writeSafetensors,
} from '@qlip/core';
import { maxAbsDiff, REFERENCE_FIXTURE, randomImages, tinyConfig } from '@qlip/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { QLIPModel } from '../src/index.js';

type Tensor = HostTensor & { name: string };

/** Write named tensors with the core writer. */
function write(path: string, tensors: Tensor[]): Promise<void> {
  return writeSafetensors(path, new Map(tensors.map((t) => [t.name, t])), { format: 'pt' });
}

/** A saved tiny model directory and a way to rewrite its weights file. */
async function savedModel(): Promise<{ dir: string; model: QLIPModel; tensors: Tensor[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'qlip-ckpt-'));
  const model = QLIPModel.create(tinyConfig(), 2);
  await model.save(dir);
  const ckpt = await openCheckpoint(dir);
  const tensors: Tensor[] = [];
  for (const [name, e] of ckpt.entries) {
    const data = toFloat32(await ckpt.read(name));
    tensors.push({ name, dtype: 'F32', shape: e.shape, data });
  }
  await ckpt.close();
  return { dir, model, tensors };
}

describe('checkpoint loading and errors', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('writes the official layout: Linear [out, in], patch conv [D, 3, p, p], format "pt" metadata', async () => {
    const { dir, model } = await savedModel();
    const ckpt = await openCheckpoint(dir);
    expect(ckpt.entries.get('vision_model.encoder.layers.0.mlp.w3.weight')!.shape).toEqual([16, 24]);
    expect(ckpt.entries.get('vision_model.embeddings.patch_embedding.weight')!.shape).toEqual([16, 3, 4, 4]);
    expect(ckpt.entries.get('logit_scale')!.shape).toEqual([]);
    // Values: the stored [in, out] variable transposed back.
    const w = toFloat32(await ckpt.read('vision_model.quant_embed.c_proj.weight')); // [8, 16]
    const v = await model.params.get('vision_model.quant_embed.c_proj.weight')!.data(); // [16, 8]
    for (let o = 0; o < 8; o++) for (let i = 0; i < 16; i++) expect(w[o * 16 + i]).toBe(v[i * 8 + o]);
    await ckpt.close();
    const raw = await readFile(join(dir, SINGLE_FILE));
    const headerLen = Number(raw.readBigUInt64LE(0));
    expect((8 + headerLen) % 8).toBe(0);
    expect(JSON.parse(raw.subarray(8, 8 + headerLen).toString()).__metadata__).toEqual({ format: 'pt' });
    model.dispose();
  });

  it('load -> save of the official fixture reproduces its config and every tensor bit for bit', async () => {
    const model = await QLIPModel.load(REFERENCE_FIXTURE);
    const dir = await mkdtemp(join(tmpdir(), 'qlip-resave-'));
    await model.save(dir);
    expect(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'))).toEqual(
      JSON.parse(await readFile(`${REFERENCE_FIXTURE}config.json`, 'utf8')),
    );
    const a = await openCheckpoint(REFERENCE_FIXTURE);
    const b = await openCheckpoint(dir);
    expect([...b.entries.keys()].sort()).toEqual([...a.entries.keys()].sort());
    for (const [name, e] of a.entries) {
      expect(b.entries.get(name)!.shape, name).toEqual(e.shape);
      const x = toFloat32(await a.read(name));
      const y = toFloat32(await b.read(name));
      expect(
        Buffer.compare(
          Buffer.from(x.buffer, x.byteOffset, x.byteLength),
          Buffer.from(y.buffer, y.byteOffset, y.byteLength),
        ),
        name,
      ).toBe(0);
    }
    await a.close();
    await b.close();
    model.dispose();
  });

  it('lists every missing, unexpected and mis-shaped tensor with file, name and shapes', async () => {
    const { dir, model, tensors } = await savedModel();
    const file = join(dir, SINGLE_FILE);
    const edited = tensors
      .filter((t) => t.name !== 'vision_decoder.norm.bias')
      .map((t) => (t.name === 'text_projection.weight' ? { ...t, shape: [8, 4, 4] } : t));
    edited.push({ name: 'vision_model.extra.weight', dtype: 'F32', shape: [2], data: new Float32Array(2) });
    await write(file, edited);
    const err = await QLIPModel.load(dir).then(
      () => undefined,
      (e: Error) => e.message,
    );
    expect(err).toMatch(/3 problems/);
    expect(err).toContain(`${file}: missing tensor "vision_decoder.norm.bias" (expected shape [8])`);
    expect(err).toContain(
      `${file}: tensor "text_projection.weight" has shape [8,4,4], the config expects [8,16]`,
    );
    expect(err).toContain(
      `${file}: unexpected tensor "vision_model.extra.weight" [2] (not a parameter of this config)`,
    );
    model.dispose();
  });

  it('ignores rope buffers and position_ids, as the reference state_dict may carry them', async () => {
    const { dir, model, tensors } = await savedModel();
    tensors.push({
      name: 'vision_model.rope.freqs_cos',
      dtype: 'F32',
      shape: [16, 8],
      data: new Float32Array(128),
    });
    tensors.push({
      name: 'vision_decoder.encoder.layers.0.self_attn.rope.freqs_sin',
      dtype: 'F32',
      shape: [16, 8],
      data: new Float32Array(128),
    });
    tensors.push({
      name: 'text_model.embeddings.position_ids',
      dtype: 'F32',
      shape: [1, 8],
      data: new Float32Array(8),
    });
    await write(join(dir, SINGLE_FILE), tensors);
    const loaded = await QLIPModel.load(dir);
    const x = randomImages(1, 16, 3);
    expect(maxAbsDiff(await loaded.reconstruct(x).data(), await model.reconstruct(x).data())).toBe(0);
    loaded.dispose();
    model.dispose();
  });

  it('loads a sharded checkpoint (model.safetensors.index.json) to the same model', async () => {
    const { dir, model, tensors } = await savedModel();
    await rm(join(dir, SINGLE_FILE));
    const half = Math.floor(tensors.length / 2);
    const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    await write(join(dir, shards[0]!), tensors.slice(0, half));
    await write(join(dir, shards[1]!), tensors.slice(half));
    const weightMap = Object.fromEntries(tensors.map((t, i) => [t.name, shards[i < half ? 0 : 1]]));
    await writeFile(join(dir, INDEX_FILE), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const loaded = await QLIPModel.load(dir);
    const x = randomImages(2, 16, 5);
    expect([...(await loaded.encodeToIndices(x)).indices]).toEqual([
      ...(await model.encodeToIndices(x)).indices,
    ]);
    // A shard that the index names but that is missing.
    await rm(join(dir, shards[1]!));
    await expect(QLIPModel.load(dir)).rejects.toThrow(
      `${join(dir, INDEX_FILE)}: invalid checkpoint index: shard file(s) not found in ${dir}: ${shards[1]}`,
    );
    loaded.dispose();
    model.dispose();
  });

  it('names the directory or file when config or weights are missing or the config is bad', async () => {
    const { dir, model } = await savedModel();
    await rm(join(dir, SINGLE_FILE));
    await expect(QLIPModel.load(dir)).rejects.toThrow(
      `${dir}: no ${INDEX_FILE} or ${SINGLE_FILE} in this directory`,
    );
    const cfgPath = join(dir, 'config.json');
    const cfg = JSON.parse(await readFile(cfgPath, 'utf8'));
    cfg.vision_config.num_attention_heads = 'two';
    await writeFile(cfgPath, JSON.stringify(cfg));
    await expect(QLIPModel.load(dir)).rejects.toThrow(`${cfgPath}: vision_config.num_attention_heads:`);
    await rm(cfgPath);
    await expect(QLIPModel.load(dir)).rejects.toThrow(`${cfgPath}: cannot read QLIP config`);
    model.dispose();
  });
});

describe('half-precision save', () => {
  it('writes F16 weights that load back within half precision and mark torch_dtype', async () => {
    const { QLIPModel: M } = await import('../src/index.js');
    const { tinyConfig, randomImages } = await import('@qlip/test-utils');
    const { mkdtempSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { SafetensorsReader } = await import('@qlip/core');
    const model = M.create(tinyConfig(), 5);
    const dir = mkdtempSync(join(tmpdir(), 'qlip-f16-'));
    await model.save(dir, { dtype: 'F16' });
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).torch_dtype).toBe('float16');
    const r = await SafetensorsReader.open(join(dir, 'model.safetensors'));
    expect(new Set([...r.entries.values()].map((e) => e.dtype))).toEqual(new Set(['F16']));
    await r.close();
    const back = await M.load(dir);
    const x = randomImages(1, 16, 2);
    const a = await model.imageEmbeddings(x).data();
    const b = await back.imageEmbeddings(x).data();
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    expect(worst).toBeGreaterThan(0); // really rounded
    expect(worst).toBeLessThan(1e-2);
    model.dispose();
    back.dispose();
  });
});
